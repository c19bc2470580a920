package scale

import (
	"fmt"
	"strings"
)

// TypeID names a type of a Registry: its index.
type TypeID uint32

// TypeDefKind tells which of Type's definitions applies.
type TypeDefKind uint8

// The kinds of type definition, in scale-info's order.
const (
	KindComposite TypeDefKind = iota
	KindVariant
	KindSequence
	KindArray
	KindTuple
	KindPrimitive
	KindCompact
	KindBitSequence
)

var kindNames = [...]string{"composite", "variant", "sequence", "array", "tuple", "primitive", "compact", "bitsequence"}

func (k TypeDefKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Primitive is a scale-info primitive type, in scale-info's order.
type Primitive uint8

// The primitives.
const (
	PrimBool Primitive = iota
	PrimChar
	PrimStr
	PrimU8
	PrimU16
	PrimU32
	PrimU64
	PrimU128
	PrimU256
	PrimI8
	PrimI16
	PrimI32
	PrimI64
	PrimI128
	PrimI256
)

var primNames = [...]string{"bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "u256", "i8", "i16", "i32", "i64", "i128", "i256"}

func (p Primitive) String() string {
	if int(p) < len(primNames) {
		return primNames[p]
	}
	return fmt.Sprintf("primitive(%d)", uint8(p))
}

// size returns the encoded size of a fixed-width primitive and whether it
// is signed; 0 for bool, char and str.
func (p Primitive) size() (n int, signed bool) {
	switch p {
	case PrimU8:
		return 1, false
	case PrimU16:
		return 2, false
	case PrimU32:
		return 4, false
	case PrimU64:
		return 8, false
	case PrimU128:
		return 16, false
	case PrimU256:
		return 32, false
	case PrimI8:
		return 1, true
	case PrimI16:
		return 2, true
	case PrimI32:
		return 4, true
	case PrimI64:
		return 8, true
	case PrimI128:
		return 16, true
	case PrimI256:
		return 32, true
	}
	return 0, false
}

// Field is a field of a composite type or of a variant.
type Field struct {
	Name     string // empty for tuple-like fields
	Type     TypeID
	TypeName string // the Rust type as written in the source, may be empty
	Docs     []string
}

// Variant is one variant of an enum type.
type Variant struct {
	Name   string
	Fields []Field
	Index  uint8
	Docs   []string
}

// TypeParam is a generic parameter of a type; HasType is false when the
// parameter was not used (scale-info leaves it out).
type TypeParam struct {
	Name    string
	Type    TypeID
	HasType bool
}

// Type is one entry of a Registry. Kind says which of the definition
// fields is set.
type Type struct {
	Path   []string
	Params []TypeParam
	Kind   TypeDefKind
	Docs   []string

	Fields    []Field     // composite
	Variants  []Variant   // variant
	Elem      TypeID      // sequence, array, compact (the compacted type)
	Len       uint32      // array
	Tuple     []TypeID    // tuple
	Primitive Primitive   // primitive
	BitStore  TypeID      // bit sequence
	BitOrder  TypeID      // bit sequence
	byIndex   *[256]int16 // variant: position in Variants by index, -1 when absent
	byName    map[string]int
}

// PathString joins the path with "::", e.g. "sp_core::crypto::AccountId32".
func (t *Type) PathString() string { return strings.Join(t.Path, "::") }

// VariantByIndex returns the variant with the given index.
func (t *Type) VariantByIndex(i uint8) (*Variant, bool) {
	if t.Kind != KindVariant || t.byIndex[i] < 0 {
		return nil, false
	}
	return &t.Variants[t.byIndex[i]], true
}

// VariantByName returns the variant with the given name.
func (t *Type) VariantByName(name string) (*Variant, bool) {
	if t.Kind != KindVariant {
		return nil, false
	}
	i, ok := t.byName[name]
	if !ok {
		return nil, false
	}
	return &t.Variants[i], true
}

// Registry is a scale-info PortableRegistry: every type the runtime's
// metadata refers to, by id. It is read-only once decoded and safe for
// concurrent use.
type Registry struct {
	types   []Type
	minSize []int32 // memoized minimum encoded size, -1 unknown, -2 in progress
}

// Len returns the number of types.
func (r *Registry) Len() int { return len(r.types) }

// Type returns the type with the given id.
func (r *Registry) Type(id TypeID) (*Type, error) {
	if int64(id) >= int64(len(r.types)) {
		return nil, fmt.Errorf("%w: type id %d out of %d", ErrDecode, id, len(r.types))
	}
	return &r.types[id], nil
}

// FindByPath returns the id of the first type whose path is path (e.g.
// "pallet_subtensor::rpc_info::neuron_info::NeuronInfoLite").
func (r *Registry) FindByPath(path string) (TypeID, bool) {
	for i := range r.types {
		if len(r.types[i].Path) > 0 && r.types[i].PathString() == path {
			return TypeID(i), true
		}
	}
	return 0, false
}

// Describe renders a type for error messages: its path, or its shape.
func (r *Registry) Describe(id TypeID) string {
	return r.describe(id, 0)
}

func (r *Registry) describe(id TypeID, depth int) string {
	t, err := r.Type(id)
	if err != nil {
		return fmt.Sprintf("#%d?", id)
	}
	if depth > 3 {
		return "…"
	}
	if len(t.Path) > 0 {
		name := t.Path[len(t.Path)-1]
		var ps []string
		for _, p := range t.Params {
			if p.HasType {
				ps = append(ps, r.describe(p.Type, depth+1))
			}
		}
		if len(ps) > 0 {
			name += "<" + strings.Join(ps, ", ") + ">"
		}
		return name
	}
	switch t.Kind {
	case KindPrimitive:
		return t.Primitive.String()
	case KindSequence:
		return "Vec<" + r.describe(t.Elem, depth+1) + ">"
	case KindArray:
		return fmt.Sprintf("[%s; %d]", r.describe(t.Elem, depth+1), t.Len)
	case KindCompact:
		return "Compact<" + r.describe(t.Elem, depth+1) + ">"
	case KindTuple:
		var ps []string
		for _, e := range t.Tuple {
			ps = append(ps, r.describe(e, depth+1))
		}
		return "(" + strings.Join(ps, ", ") + ")"
	case KindBitSequence:
		return "BitVec"
	}
	return fmt.Sprintf("#%d(%s)", id, t.Kind)
}

// maxDepth bounds the nesting of types while decoding and encoding, so that
// a registry with a cycle that consumes no input cannot recurse forever.
const maxDepth = 96

// decodeRegistry reads a PortableRegistry: Vec<PortableType{id: compact,
// type: Type}>. Ids must be 0, 1, 2 … in order, as scale-info writes them.
func decodeRegistry(r *Reader) (*Registry, error) {
	n, err := r.length(4)
	if err != nil {
		return nil, fmt.Errorf("registry length: %w", err)
	}
	reg := &Registry{types: make([]Type, n)}
	for i := 0; i < n; i++ {
		id, err := r.Compact()
		if err != nil {
			return nil, fmt.Errorf("type %d: %w", i, err)
		}
		if id != uint64(i) {
			return nil, decodeErr("type at position %d has id %d", i, id)
		}
		if err := decodeType(r, &reg.types[i]); err != nil {
			return nil, fmt.Errorf("type %d: %w", i, err)
		}
	}
	for i := range reg.types {
		if err := reg.check(&reg.types[i]); err != nil {
			return nil, fmt.Errorf("type %d: %w", i, err)
		}
	}
	reg.minSize = make([]int32, n)
	for i := range reg.minSize {
		reg.minSize[i] = -1
	}
	for i := range reg.types {
		reg.minSizeOf(TypeID(i), 0)
	}
	return reg, nil
}

// check verifies that every type id a type refers to exists.
func (reg *Registry) check(t *Type) error {
	ok := func(id TypeID) error {
		if int64(id) >= int64(len(reg.types)) {
			return decodeErr("refers to type %d of %d", id, len(reg.types))
		}
		return nil
	}
	for _, p := range t.Params {
		if p.HasType {
			if err := ok(p.Type); err != nil {
				return err
			}
		}
	}
	for _, f := range t.Fields {
		if err := ok(f.Type); err != nil {
			return err
		}
	}
	for _, v := range t.Variants {
		for _, f := range v.Fields {
			if err := ok(f.Type); err != nil {
				return err
			}
		}
	}
	for _, e := range t.Tuple {
		if err := ok(e); err != nil {
			return err
		}
	}
	switch t.Kind {
	case KindSequence, KindArray, KindCompact:
		return ok(t.Elem)
	case KindBitSequence:
		if err := ok(t.BitStore); err != nil {
			return err
		}
		return ok(t.BitOrder)
	}
	return nil
}

// minSizeOf returns the minimum encoded size of a type (capped), used to
// bound sequence lengths by the input left. Cycles count as 0.
func (reg *Registry) minSizeOf(id TypeID, depth int) int {
	const limit = 1 << 20
	switch s := reg.minSize[id]; {
	case s >= 0:
		return int(s)
	case s == -2 || depth > maxDepth:
		return 0
	}
	reg.minSize[id] = -2
	t := &reg.types[id]
	n := 0
	switch t.Kind {
	case KindComposite:
		for _, f := range t.Fields {
			n += reg.minSizeOf(f.Type, depth+1)
		}
	case KindVariant:
		m := -1
		for _, v := range t.Variants {
			s := 0
			for _, f := range v.Fields {
				s += reg.minSizeOf(f.Type, depth+1)
			}
			if m < 0 || s < m {
				m = s
			}
		}
		if m < 0 {
			m = 0
		}
		n = 1 + m
	case KindSequence, KindCompact, KindBitSequence:
		n = 1
	case KindArray:
		n = int(min(uint64(t.Len)*uint64(reg.minSizeOf(t.Elem, depth+1)), limit))
	case KindTuple:
		for _, e := range t.Tuple {
			n += reg.minSizeOf(e, depth+1)
		}
	case KindPrimitive:
		switch t.Primitive {
		case PrimBool:
			n = 1
		case PrimChar:
			n = 4
		case PrimStr:
			n = 1
		default:
			n, _ = t.Primitive.size()
		}
	}
	n = min(n, limit)
	reg.minSize[id] = int32(n)
	return n
}

func decodeStrings(r *Reader) ([]string, error) {
	n, err := r.length(1)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]string, n)
	for i := range out {
		if out[i], err = r.String(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decodeOptString(r *Reader) (string, error) {
	some, err := r.Option()
	if err != nil || !some {
		return "", err
	}
	return r.String()
}

func decodeTypeID(r *Reader) (TypeID, error) {
	v, err := r.Compact()
	if err != nil {
		return 0, err
	}
	if v > 1<<31 {
		return 0, decodeErr("type id %d", v)
	}
	return TypeID(v), nil
}

func decodeFields(r *Reader) ([]Field, error) {
	n, err := r.length(3)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	fs := make([]Field, n)
	for i := range fs {
		f := &fs[i]
		if f.Name, err = decodeOptString(r); err != nil {
			return nil, err
		}
		if f.Type, err = decodeTypeID(r); err != nil {
			return nil, err
		}
		if f.TypeName, err = decodeOptString(r); err != nil {
			return nil, err
		}
		if f.Docs, err = decodeStrings(r); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

func decodeType(r *Reader, t *Type) error {
	var err error
	if t.Path, err = decodeStrings(r); err != nil {
		return err
	}
	np, err := r.length(2)
	if err != nil {
		return err
	}
	for i := 0; i < np; i++ {
		var p TypeParam
		if p.Name, err = r.String(); err != nil {
			return err
		}
		if p.HasType, err = r.Option(); err != nil {
			return err
		}
		if p.HasType {
			if p.Type, err = decodeTypeID(r); err != nil {
				return err
			}
		}
		t.Params = append(t.Params, p)
	}
	kind, err := r.U8()
	if err != nil {
		return err
	}
	t.Kind = TypeDefKind(kind)
	switch t.Kind {
	case KindComposite:
		if t.Fields, err = decodeFields(r); err != nil {
			return err
		}
	case KindVariant:
		n, err := r.length(4)
		if err != nil {
			return err
		}
		t.byIndex = new([256]int16)
		for i := range t.byIndex {
			t.byIndex[i] = -1
		}
		t.byName = make(map[string]int, n)
		t.Variants = make([]Variant, n)
		for i := range t.Variants {
			v := &t.Variants[i]
			if v.Name, err = r.String(); err != nil {
				return err
			}
			if v.Fields, err = decodeFields(r); err != nil {
				return err
			}
			if v.Index, err = r.U8(); err != nil {
				return err
			}
			if v.Docs, err = decodeStrings(r); err != nil {
				return err
			}
			if t.byIndex[v.Index] >= 0 {
				return decodeErr("variant index %d twice", v.Index)
			}
			t.byIndex[v.Index] = int16(i)
			t.byName[v.Name] = i
		}
	case KindSequence, KindCompact:
		if t.Elem, err = decodeTypeID(r); err != nil {
			return err
		}
	case KindArray:
		if t.Len, err = r.U32(); err != nil {
			return err
		}
		if t.Elem, err = decodeTypeID(r); err != nil {
			return err
		}
	case KindTuple:
		n, err := r.length(1)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			id, err := decodeTypeID(r)
			if err != nil {
				return err
			}
			t.Tuple = append(t.Tuple, id)
		}
	case KindPrimitive:
		p, err := r.U8()
		if err != nil {
			return err
		}
		if int(p) >= len(primNames) {
			return decodeErr("primitive %d", p)
		}
		t.Primitive = Primitive(p)
	case KindBitSequence:
		if t.BitStore, err = decodeTypeID(r); err != nil {
			return err
		}
		if t.BitOrder, err = decodeTypeID(r); err != nil {
			return err
		}
	default:
		return decodeErr("type definition kind %d", kind)
	}
	t.Docs, err = decodeStrings(r)
	return err
}
