// Package atomicfile replaces files so that a crash leaves the old content or
// the new, never a mix: the validator's ledger and the files of a genesis are
// written this way.
//
//	if err := atomicfile.Write(path, data); err != nil {
//		return fmt.Errorf("save ledger: %w", err)
//	}
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data: it writes a temporary file beside path
// (".<name>.tmp-*", in the same directory so that the rename stays on one
// file system), fsyncs it, renames it over path and fsyncs the directory. A
// crash at any point leaves either the old file or the new one, and perhaps
// a temporary file, which readers of path never see. On an error the
// temporary file is removed and path is untouched, unless the failure came
// after the rename, opening or fsyncing the directory (the new content is
// then in place but perhaps not yet durable). The file gets mode 0600, os.CreateTemp's,
// whatever the mode of the file it replaces.
func Write(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
