package dir

import "io"

// SetWriteHook makes Put write through wrap(key, file), so a test can fail a
// write part-way (a full disk).
func (s *Store) SetWriteHook(wrap func(key string, w io.Writer) io.Writer) { s.wrapWrite = wrap }

// SetBeforeRename makes Put call f just before publishing the object.
func (s *Store) SetBeforeRename(f func(key string) error) { s.beforeRename = f }

// TmpPrefix is the name prefix of temporary files.
const TmpPrefix = tmpPrefix
