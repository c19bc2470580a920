package scale

import "slices"

// WithoutCalls returns a copy of md whose pallet lacks the named calls,
// for tests of runtimes that dropped a call. md is not changed.
func WithoutCalls(md *Metadata, pallet string, names ...string) (*Metadata, error) {
	p, err := md.Pallet(pallet)
	if err != nil {
		return nil, err
	}
	reg := &Registry{types: slices.Clone(md.Types.types), minSize: md.Types.minSize}
	t := &reg.types[p.CallType]
	var vs []Variant
	for _, v := range t.Variants {
		if !slices.Contains(names, v.Name) {
			vs = append(vs, v)
		}
	}
	t.Variants = vs
	t.byIndex = new([256]int16)
	for i := range t.byIndex {
		t.byIndex[i] = -1
	}
	t.byName = map[string]int{}
	for i, v := range vs {
		t.byIndex[v.Index] = int16(i)
		t.byName[v.Name] = i
	}
	out := *md
	out.Types = reg
	return &out, nil
}
