package clienttest

import (
	"fmt"

	"github.com/bistro-go/bistro/subtensor/scale"
)

// Seeder collects raw storage writes for Chopsticks.SetStorage, each key
// and value encoded with the runtime's own metadata, so that a test (or
// the devnet) can seed a subnet whatever the runtime's layout. The first
// failed encoding is kept and every later Set is ignored: check Err once.
type Seeder struct {
	md  *scale.Metadata
	kv  [][2][]byte
	err error
}

// NewSeeder returns a Seeder encoding with md.
func NewSeeder(md *scale.Metadata) *Seeder { return &Seeder{md: md} }

// Set queues pallet.entry(keys…) = value.
func (s *Seeder) Set(pallet, entry string, value scale.Value, keys ...scale.Value) {
	if s.err != nil {
		return
	}
	k, err := s.md.StorageKey(pallet, entry, keys...)
	if err != nil {
		s.err = err
		return
	}
	e, err := s.md.StorageEntry(pallet, entry)
	if err != nil {
		s.err = err
		return
	}
	v, err := s.md.Types.Encode(e.ValueType, value)
	if err != nil {
		s.err = fmt.Errorf("%s.%s: %w", pallet, entry, err)
		return
	}
	s.kv = append(s.kv, [2][]byte{k, v})
}

// Delete queues the removal of pallet.entry(keys…).
func (s *Seeder) Delete(pallet, entry string, keys ...scale.Value) {
	if s.err != nil {
		return
	}
	k, err := s.md.StorageKey(pallet, entry, keys...)
	if err != nil {
		s.err = err
		return
	}
	s.kv = append(s.kv, [2][]byte{k, nil})
}

// Err returns the first encoding error.
func (s *Seeder) Err() error { return s.err }

// KV returns the queued writes (a nil value deletes), for SetStorage.
func (s *Seeder) KV() [][2][]byte { return s.kv }
