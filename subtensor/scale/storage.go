package scale

import (
	"fmt"
)

// keyTypes returns the type of each key of a storage map, one per hasher.
func (md *Metadata) keyTypes(e *StorageEntry) ([]TypeID, error) {
	switch len(e.Hashers) {
	case 0:
		return nil, nil
	case 1:
		return []TypeID{e.KeyType}, nil
	}
	t, err := md.Types.Type(e.KeyType)
	if err != nil {
		return nil, err
	}
	if t.Kind != KindTuple || len(t.Tuple) != len(e.Hashers) {
		return nil, decodeErr("storage %s: %d hashers but key type %s", e.Name, len(e.Hashers), md.Types.Describe(e.KeyType))
	}
	return t.Tuple, nil
}

// StoragePrefix returns twox128(pallet prefix) ‖ twox128(entry name), the
// start of every key of the entry.
func (md *Metadata) StoragePrefix(pallet, entry string) ([]byte, error) {
	p, err := md.Pallet(pallet)
	if err != nil {
		return nil, err
	}
	if _, err := p.Entry(entry); err != nil {
		return nil, err
	}
	b := AppendTwox(make([]byte, 0, 32), []byte(p.StoragePrefix), 2)
	return AppendTwox(b, []byte(entry), 2), nil
}

// StorageKey returns the storage key of an entry: the prefix, then for
// each key its encoding hashed with the entry's hasher (Identity,
// Twox64Concat, Blake2_128Concat …), as the metadata says. Fewer keys than
// the map has give the prefix of the keys that start with them, for
// iteration.
func (md *Metadata) StorageKey(pallet, entry string, keys ...Value) ([]byte, error) {
	b, err := md.StoragePrefix(pallet, entry)
	if err != nil {
		return nil, err
	}
	e, _ := md.StorageEntry(pallet, entry)
	kts, err := md.keyTypes(e)
	if err != nil {
		return nil, err
	}
	if len(keys) > len(kts) {
		return nil, encodeErr("storage %s.%s takes %d keys, got %d", pallet, entry, len(kts), len(keys))
	}
	var enc []byte
	for i, k := range keys {
		enc, err = md.Types.Encode(kts[i], k)
		if err != nil {
			return nil, fmt.Errorf("storage %s.%s key %d: %w", pallet, entry, i, err)
		}
		b = e.Hashers[i].Append(b, enc)
	}
	return b, nil
}

// DecodeStorageKey reads the keys back from a full storage key of an
// entry. Keys under hashers that keep them (Identity, Twox64Concat,
// Blake2_128Concat) are decoded; the others are returned as nil.
func (md *Metadata) DecodeStorageKey(pallet, entry string, key []byte) ([]Value, error) {
	prefix, err := md.StoragePrefix(pallet, entry)
	if err != nil {
		return nil, err
	}
	if len(key) < len(prefix) || string(key[:len(prefix)]) != string(prefix) {
		return nil, decodeErr("key is not under storage %s.%s", pallet, entry)
	}
	e, _ := md.StorageEntry(pallet, entry)
	kts, err := md.keyTypes(e)
	if err != nil {
		return nil, err
	}
	r := NewReader(key[len(prefix):])
	out := make([]Value, len(kts))
	for i, kt := range kts {
		h := e.Hashers[i]
		if _, err := r.take(h.digestLen()); err != nil {
			return nil, fmt.Errorf("storage %s.%s key %d: %w", pallet, entry, i, err)
		}
		if !h.concat() {
			if i != len(kts)-1 {
				return nil, decodeErr("storage %s.%s key %d under %s: the keys after it cannot be found", pallet, entry, i, h)
			}
			r.off = len(r.b)
			break
		}
		if out[i], err = md.Types.DecodeFrom(r, kt); err != nil {
			return nil, fmt.Errorf("storage %s.%s key %d: %w", pallet, entry, i, err)
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("storage %s.%s: %w", pallet, entry, err)
	}
	return out, nil
}

// DecodeStorage decodes the value of a storage entry as state_getStorage
// returns it. A missing value (data nil) reads as the entry's default for
// a ValueQuery entry and as nil for an OptionQuery one.
func (md *Metadata) DecodeStorage(pallet, entry string, data []byte) (Value, error) {
	e, err := md.StorageEntry(pallet, entry)
	if err != nil {
		return nil, err
	}
	if data == nil {
		if e.Optional {
			return nil, nil
		}
		data = e.Default
	}
	v, err := md.Types.Decode(e.ValueType, data)
	if err != nil {
		return nil, fmt.Errorf("storage %s.%s: %w", pallet, entry, err)
	}
	return v, nil
}
