package scale

import (
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strings"
)

// ErrNotFound is wrapped when the metadata lacks a pallet, call, storage
// entry, constant, runtime API or field that was asked for.
var ErrNotFound = errors.New("scale: not in the metadata")

// Value is a SCALE value decoded by type, or one to encode. Decode returns:
//
//	bool                      bool
//	char                      Char
//	str                       string
//	u8 … u64, i8 … i64        uint8 … uint64, int8 … int64
//	u128, u256, i128, i256    *big.Int
//	Compact<T>                as T's primitive (wrappers of one field are looked through)
//	composite                 Composite (fields in order; unnamed for tuple structs)
//	enum                      *VariantValue
//	Vec<u8>, [u8; N]          []byte
//	other sequences, arrays   []Value
//	tuple                     []Value
//	bit sequence              BitSequence
//
// Encode accepts these and, for convenience: any Go integer (or a type of
// integer kind, e.g. bistro.UID) and *big.Int for integers; any slice or
// array for sequences, arrays and tuples; []byte, string and byte arrays
// (bistro.Hotkey) for u8 sequences and arrays; map[string]Value or
// []Value for composites; a string for a variant without fields; for a
// composite of one field, that field's value (AccountId32 from [32]byte,
// BoundedVec from a slice); nil for Option's None and any other value for
// Some.
type Value = any

// Char is a decoded char.
type Char rune

// NamedValue is a field of a composite or variant value.
type NamedValue struct {
	Name  string
	Value Value
}

// Composite is a decoded struct: its fields in order.
type Composite []NamedValue

// Get returns the value of the field with the given name.
func (c Composite) Get(name string) (Value, bool) {
	for _, f := range c {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// VariantValue is a decoded enum value, or one to encode: by Name, or by
// Index when Name is empty.
type VariantValue struct {
	Name   string
	Index  uint8
	Fields Composite
}

// Get returns the value of the field with the given name.
func (v *VariantValue) Get(name string) (Value, bool) { return v.Fields.Get(name) }

// BitSequence is a decoded BitVec: Len bits in Bytes as the store and
// order types lay them out.
type BitSequence struct {
	Len   int
	Bytes []byte
}

// Decode decodes one value of type id from b, requiring every byte
// consumed.
func (reg *Registry) Decode(id TypeID, b []byte) (Value, error) {
	r := NewReader(b)
	v, err := reg.DecodeFrom(r, id)
	if err != nil {
		return nil, err
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%s: %w", reg.Describe(id), err)
	}
	return v, nil
}

// DecodeFrom decodes one value of type id from r.
func (reg *Registry) DecodeFrom(r *Reader, id TypeID) (Value, error) {
	return reg.decode(r, id, 0)
}

// Skip reads past one value of type id without building it.
func (reg *Registry) Skip(r *Reader, id TypeID) error {
	_, err := reg.decode(r, id, 0)
	return err
}

func (reg *Registry) decode(r *Reader, id TypeID, depth int) (Value, error) {
	if depth > maxDepth {
		return nil, decodeErr("types nested deeper than %d", maxDepth)
	}
	t, err := reg.Type(id)
	if err != nil {
		return nil, err
	}
	switch t.Kind {
	case KindPrimitive:
		return decodePrimitive(r, t.Primitive)
	case KindCompact:
		p, err := reg.compactPrimitive(id)
		if err != nil {
			return nil, err
		}
		return decodeCompactAs(r, p)
	case KindComposite:
		c := make(Composite, len(t.Fields))
		for i, f := range t.Fields {
			v, err := reg.decode(r, f.Type, depth+1)
			if err != nil {
				return nil, fieldErr(f.Name, i, err)
			}
			c[i] = NamedValue{Name: f.Name, Value: v}
		}
		return c, nil
	case KindVariant:
		at := r.Offset()
		i, err := r.U8()
		if err != nil {
			return nil, err
		}
		vt, ok := t.VariantByIndex(i)
		if !ok {
			return nil, decodeErr("%s has no variant %d (offset %d)", reg.Describe(id), i, at)
		}
		out := &VariantValue{Name: vt.Name, Index: i}
		if len(vt.Fields) > 0 {
			out.Fields = make(Composite, len(vt.Fields))
		}
		for k, f := range vt.Fields {
			v, err := reg.decode(r, f.Type, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", vt.Name, fieldErr(f.Name, k, err))
			}
			out.Fields[k] = NamedValue{Name: f.Name, Value: v}
		}
		return out, nil
	case KindSequence:
		if reg.isU8(t.Elem) {
			return r.ByteVec()
		}
		n, err := r.length(reg.minSizeOf(t.Elem, 0))
		if err != nil {
			return nil, err
		}
		return reg.decodeN(r, t.Elem, n, depth)
	case KindArray:
		if reg.isU8(t.Elem) {
			return r.Bytes(int(min(t.Len, 1<<31-1)))
		}
		if m := reg.minSizeOf(t.Elem, 0); (m > 0 && uint64(t.Len)*uint64(m) > uint64(r.Len())) || (m == 0 && t.Len > maxEmptyElems) {
			return nil, decodeErr("array of %d %s: %d bytes left", t.Len, reg.Describe(t.Elem), r.Len())
		}
		return reg.decodeN(r, t.Elem, int(t.Len), depth)
	case KindTuple:
		out := make([]Value, len(t.Tuple))
		for i, e := range t.Tuple {
			v, err := reg.decode(r, e, depth+1)
			if err != nil {
				return nil, fmt.Errorf("tuple element %d: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	case KindBitSequence:
		store, err := reg.bitStoreBytes(t.BitStore)
		if err != nil {
			return nil, err
		}
		n, err := r.Compact()
		if err != nil {
			return nil, err
		}
		words := (n + uint64(8*store) - 1) / uint64(8*store)
		if words*uint64(store) > uint64(r.Len()) {
			return nil, decodeErr("bit sequence of %d bits: %d bytes left", n, r.Len())
		}
		b, err := r.Bytes(int(words) * store)
		if err != nil {
			return nil, err
		}
		return BitSequence{Len: int(n), Bytes: b}, nil
	}
	return nil, decodeErr("type %d of kind %s", id, t.Kind)
}

func fieldErr(name string, i int, err error) error {
	if name == "" {
		return fmt.Errorf("field %d: %w", i, err)
	}
	return fmt.Errorf("field %s: %w", name, err)
}

func (reg *Registry) decodeN(r *Reader, elem TypeID, n, depth int) ([]Value, error) {
	out := make([]Value, n)
	for i := range out {
		v, err := reg.decode(r, elem, depth+1)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}

func (reg *Registry) isU8(id TypeID) bool {
	t, err := reg.Type(id)
	return err == nil && t.Kind == KindPrimitive && t.Primitive == PrimU8
}

// bitStoreBytes returns the width of a bit sequence's store type.
func (reg *Registry) bitStoreBytes(id TypeID) (int, error) {
	t, err := reg.Type(id)
	if err != nil {
		return 0, err
	}
	if t.Kind == KindPrimitive {
		switch t.Primitive {
		case PrimU8, PrimU16, PrimU32, PrimU64:
			n, _ := t.Primitive.size()
			return n, nil
		}
	}
	return 0, decodeErr("bit sequence store type %s", reg.Describe(id))
}

// compactPrimitive resolves the unsigned primitive a Compact<T> encodes,
// looking through composites of one field and empty tuples (Compact<()>
// does not occur; it is refused).
func (reg *Registry) compactPrimitive(id TypeID) (Primitive, error) {
	t, _ := reg.Type(id)
	inner := t.Elem
	for i := 0; i < maxDepth; i++ {
		it, err := reg.Type(inner)
		if err != nil {
			return 0, err
		}
		switch {
		case it.Kind == KindPrimitive:
			switch it.Primitive {
			case PrimU8, PrimU16, PrimU32, PrimU64, PrimU128, PrimU256:
				return it.Primitive, nil
			}
			return 0, decodeErr("compact of %s", it.Primitive)
		case it.Kind == KindComposite && len(it.Fields) == 1:
			inner = it.Fields[0].Type
		case it.Kind == KindTuple && len(it.Tuple) == 1:
			inner = it.Tuple[0]
		case it.Kind == KindCompact:
			inner = it.Elem
		default:
			return 0, decodeErr("compact of %s", reg.Describe(inner))
		}
	}
	return 0, decodeErr("compact type nested too deep")
}

func decodeCompactAs(r *Reader, p Primitive) (Value, error) {
	if p == PrimU128 || p == PrimU256 {
		v, err := r.CompactBig()
		if err != nil {
			return nil, err
		}
		if n, _ := p.size(); v.BitLen() > 8*n {
			return nil, decodeErr("compact %s overflows %s", v, p)
		}
		return v, nil
	}
	v, err := r.Compact()
	if err != nil {
		return nil, err
	}
	n, _ := p.size()
	if n < 8 && v>>(8*n) != 0 {
		return nil, decodeErr("compact %d overflows %s", v, p)
	}
	switch p {
	case PrimU8:
		return uint8(v), nil
	case PrimU16:
		return uint16(v), nil
	case PrimU32:
		return uint32(v), nil
	}
	return v, nil
}

func decodePrimitive(r *Reader, p Primitive) (Value, error) {
	switch p {
	case PrimBool:
		return r.Bool()
	case PrimChar:
		v, err := r.U32()
		if err != nil {
			return nil, err
		}
		if v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) {
			return nil, decodeErr("char %#x", v)
		}
		return Char(v), nil
	case PrimStr:
		return r.String()
	case PrimU8:
		return r.U8()
	case PrimU16:
		return r.U16()
	case PrimU32:
		return r.U32()
	case PrimU64:
		return r.U64()
	case PrimI8:
		v, err := r.U8()
		return int8(v), err
	case PrimI16:
		v, err := r.U16()
		return int16(v), err
	case PrimI32:
		v, err := r.U32()
		return int32(v), err
	case PrimI64:
		v, err := r.U64()
		return int64(v), err
	}
	n, signed := p.size()
	if n == 0 {
		return nil, decodeErr("primitive %d", p)
	}
	b, err := r.take(n)
	if err != nil {
		return nil, err
	}
	return leBig(b, signed), nil
}

// Encode encodes v as type id.
func (reg *Registry) Encode(id TypeID, v Value) ([]byte, error) {
	return reg.AppendEncode(nil, id, v)
}

// AppendEncode appends the encoding of v as type id to b.
func (reg *Registry) AppendEncode(b []byte, id TypeID, v Value) ([]byte, error) {
	out, err := reg.encode(b, id, v, 0)
	if err != nil {
		return b, err
	}
	return out, nil
}

func (reg *Registry) encode(b []byte, id TypeID, v Value, depth int) ([]byte, error) {
	if depth > maxDepth {
		return b, encodeErr("types nested deeper than %d", maxDepth)
	}
	t, err := reg.Type(id)
	if err != nil {
		return b, err
	}
	switch t.Kind {
	case KindPrimitive:
		return encodePrimitive(b, t.Primitive, v)
	case KindCompact:
		p, err := reg.compactPrimitive(id)
		if err != nil {
			return b, err
		}
		x, err := unwrapSingle(v)
		if err != nil {
			return b, err
		}
		if w, _ := p.size(); w <= 8 {
			if tmp, ok, err := appendSmallInt(nil, x, 8, false); ok {
				if err != nil {
					return b, fmt.Errorf("%s: %w", reg.Describe(id), err)
				}
				u := uint64(0)
				for i := 7; i >= 0; i-- {
					u = u<<8 | uint64(tmp[i])
				}
				if w < 8 && u>>(8*w) != 0 {
					return b, encodeErr("%d does not fit %s", u, reg.Describe(id))
				}
				return AppendCompact(b, u), nil
			}
		}
		n, err := toBig(x)
		if err != nil {
			return b, fmt.Errorf("%s: %w", reg.Describe(id), err)
		}
		if w, _ := p.size(); n.Sign() < 0 || n.BitLen() > 8*w {
			return b, encodeErr("%s does not fit %s", n, reg.Describe(id))
		}
		return AppendCompactBig(b, n)
	case KindComposite:
		return reg.encodeFields(b, t.Fields, v, reg.Describe(id), depth)
	case KindVariant:
		return reg.encodeVariant(b, id, t, v, depth)
	case KindSequence:
		if reg.isU8(t.Elem) {
			if bs, ok := asBytes(v); ok {
				return AppendByteVec(b, bs), nil
			}
		}
		items, err := asList(v)
		if err != nil {
			return b, fmt.Errorf("%s: %w", reg.Describe(id), err)
		}
		b = AppendCompact(b, uint64(len(items)))
		return reg.encodeItems(b, t.Elem, items, depth)
	case KindArray:
		if reg.isU8(t.Elem) {
			if bs, ok := asBytes(v); ok {
				if len(bs) != int(t.Len) {
					return b, encodeErr("%s: %d bytes, want %d", reg.Describe(id), len(bs), t.Len)
				}
				return append(b, bs...), nil
			}
		}
		items, err := asList(v)
		if err != nil {
			return b, fmt.Errorf("%s: %w", reg.Describe(id), err)
		}
		if len(items) != int(t.Len) {
			return b, encodeErr("%s: %d elements, want %d", reg.Describe(id), len(items), t.Len)
		}
		return reg.encodeItems(b, t.Elem, items, depth)
	case KindTuple:
		if len(t.Tuple) == 0 {
			return b, nil
		}
		items, err := asList(v)
		if err != nil {
			if len(t.Tuple) == 1 {
				return reg.encode(b, t.Tuple[0], v, depth+1)
			}
			return b, fmt.Errorf("%s: %w", reg.Describe(id), err)
		}
		if len(items) != len(t.Tuple) {
			return b, encodeErr("%s: %d elements, want %d", reg.Describe(id), len(items), len(t.Tuple))
		}
		for i, e := range t.Tuple {
			if b, err = reg.encode(b, e, items[i], depth+1); err != nil {
				return b, fmt.Errorf("tuple element %d: %w", i, err)
			}
		}
		return b, nil
	case KindBitSequence:
		bs, ok := v.(BitSequence)
		if !ok {
			return b, encodeErr("%s: want a BitSequence, got %T", reg.Describe(id), v)
		}
		store, err := reg.bitStoreBytes(t.BitStore)
		if err != nil {
			return b, err
		}
		if bs.Len < 0 || len(bs.Bytes) != (bs.Len+8*store-1)/(8*store)*store {
			return b, encodeErr("bit sequence of %d bits in %d bytes", bs.Len, len(bs.Bytes))
		}
		return append(AppendCompact(b, uint64(bs.Len)), bs.Bytes...), nil
	}
	return b, encodeErr("type %d of kind %s", id, t.Kind)
}

func (reg *Registry) encodeItems(b []byte, elem TypeID, items []Value, depth int) ([]byte, error) {
	var err error
	for i, it := range items {
		if b, err = reg.encode(b, elem, it, depth+1); err != nil {
			return b, fmt.Errorf("element %d: %w", i, err)
		}
	}
	return b, nil
}

// encodeFields encodes the fields of a composite or variant from a
// Composite, a map by name, a list by position, or — for one field — the
// field's value itself.
func (reg *Registry) encodeFields(b []byte, fields []Field, v Value, what string, depth int) ([]byte, error) {
	var err error
	if len(fields) == 0 {
		switch x := v.(type) {
		case nil:
		case Composite:
			if len(x) != 0 {
				return b, encodeErr("%s has no fields, got %d", what, len(x))
			}
		case []Value:
			if len(x) != 0 {
				return b, encodeErr("%s has no fields, got %d", what, len(x))
			}
		case map[string]Value:
			if len(x) != 0 {
				return b, encodeErr("%s has no fields, got %d", what, len(x))
			}
		default:
			return b, encodeErr("%s has no fields, got %T", what, v)
		}
		return b, nil
	}
	var vals []Value
	switch x := v.(type) {
	case Composite:
		if len(x) != len(fields) {
			return b, encodeErr("%s: %d fields, want %d", what, len(x), len(fields))
		}
		vals = make([]Value, len(fields))
		for i, f := range fields {
			if x[i].Name != f.Name && x[i].Name != "" {
				if val, ok := x.Get(f.Name); ok && f.Name != "" {
					vals[i] = val
					continue
				}
				return b, encodeErr("%s: field %d is %q, want %q", what, i, x[i].Name, f.Name)
			}
			vals[i] = x[i].Value
		}
	case map[string]Value:
		if len(x) != len(fields) {
			return b, encodeErr("%s: %d fields given, want %d (%s)", what, len(x), len(fields), fieldNames(fields))
		}
		vals = make([]Value, len(fields))
		for i, f := range fields {
			val, ok := x[f.Name]
			if !ok {
				return b, fmt.Errorf("%w: %s: field %q missing", ErrEncode, what, f.Name)
			}
			vals[i] = val
		}
	case []Value:
		if len(fields) == 1 && (len(x) != 1 || reg.listLike(fields[0].Type)) {
			vals = []Value{v}
		} else {
			if len(x) != len(fields) {
				return b, encodeErr("%s: %d values, want %d (%s)", what, len(x), len(fields), fieldNames(fields))
			}
			vals = x
		}
	default:
		if len(fields) != 1 {
			return b, encodeErr("%s: want %d fields (%s), got %T", what, len(fields), fieldNames(fields), v)
		}
		vals = []Value{v}
	}
	for i, f := range fields {
		if b, err = reg.encode(b, f.Type, vals[i], depth+1); err != nil {
			return b, fieldErr(f.Name, i, err)
		}
	}
	return b, nil
}

// listLike reports whether a type takes a list of values (a sequence,
// array or tuple, possibly inside composites of one field), so that a list
// given for a composite of one such field is that field's value.
func (reg *Registry) listLike(id TypeID) bool {
	for i := 0; i < maxDepth; i++ {
		t, err := reg.Type(id)
		if err != nil {
			return false
		}
		switch {
		case t.Kind == KindSequence || t.Kind == KindArray || t.Kind == KindTuple:
			return true
		case t.Kind == KindComposite && len(t.Fields) == 1:
			id = t.Fields[0].Type
		default:
			return false
		}
	}
	return false
}

func fieldNames(fs []Field) string {
	var s []string
	for i, f := range fs {
		if f.Name == "" {
			s = append(s, fmt.Sprint(i))
		} else {
			s = append(s, f.Name)
		}
	}
	return strings.Join(s, ", ")
}

func (reg *Registry) encodeVariant(b []byte, id TypeID, t *Type, v Value, depth int) ([]byte, error) {
	isOption := len(t.Path) == 1 && t.Path[0] == "Option"
	var vt *Variant
	var fields Value
	switch x := v.(type) {
	case *VariantValue:
		vt = reg.pickVariant(t, x.Name, x.Index)
		fields = x.Fields
	case VariantValue:
		vt = reg.pickVariant(t, x.Name, x.Index)
		fields = x.Fields
	case string:
		if !isOption {
			vt, _ = t.VariantByName(x)
			if vt != nil && len(vt.Fields) > 0 {
				return b, encodeErr("%s::%s has fields", reg.Describe(id), x)
			}
			break
		}
		vt, _ = t.VariantByName("Some")
		fields = v
	case nil:
		if isOption {
			vt, _ = t.VariantByName("None")
		}
	default:
		if isOption {
			vt, _ = t.VariantByName("Some")
			fields = v
		}
	}
	if vt == nil {
		return b, encodeErr("%s: no variant for %#v", reg.Describe(id), v)
	}
	b = append(b, vt.Index)
	return reg.encodeFields(b, vt.Fields, fields, reg.Describe(id)+"::"+vt.Name, depth)
}

func (reg *Registry) pickVariant(t *Type, name string, index uint8) *Variant {
	if name != "" {
		v, _ := t.VariantByName(name)
		return v
	}
	v, _ := t.VariantByIndex(index)
	return v
}

// unwrapSingle looks through a Composite or []Value of one element.
func unwrapSingle(v Value) (Value, error) {
	for {
		switch x := v.(type) {
		case Composite:
			if len(x) != 1 {
				return nil, encodeErr("compact of a composite of %d fields", len(x))
			}
			v = x[0].Value
		case []Value:
			if len(x) != 1 {
				return nil, encodeErr("compact of %d values", len(x))
			}
			v = x[0]
		default:
			return v, nil
		}
	}
}

func asBytes(v Value) ([]byte, bool) {
	switch x := v.(type) {
	case []byte:
		return x, true
	case string:
		return []byte(x), true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		out := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(out), rv)
		return out, true
	}
	if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
		return rv.Bytes(), true
	}
	return nil, false
}

func asList(v Value) ([]Value, error) {
	switch x := v.(type) {
	case []Value:
		return x, nil
	case Composite:
		out := make([]Value, len(x))
		for i, f := range x {
			out[i] = f.Value
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, encodeErr("want a list, got %T", v)
	}
	out := make([]Value, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, nil
}

// toBig converts any Go integer (or a type of integer kind) or *big.Int.
func toBig(v Value) (*big.Int, error) {
	switch x := v.(type) {
	case *big.Int:
		if x == nil {
			return nil, encodeErr("nil *big.Int")
		}
		return x, nil
	case big.Int:
		return &x, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return big.NewInt(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return new(big.Int).SetUint64(rv.Uint()), nil
	}
	return nil, encodeErr("want an integer, got %T", v)
}

func encodePrimitive(b []byte, p Primitive, v Value) ([]byte, error) {
	switch p {
	case PrimBool:
		x, ok := v.(bool)
		if !ok {
			return b, encodeErr("bool: got %T", v)
		}
		if x {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case PrimChar:
		var r rune
		switch x := v.(type) {
		case Char:
			r = rune(x)
		case rune:
			r = x
		default:
			return b, encodeErr("char: got %T", v)
		}
		return append(b, byte(r), byte(r>>8), byte(r>>16), byte(r>>24)), nil
	case PrimStr:
		switch x := v.(type) {
		case string:
			return AppendByteVec(b, []byte(x)), nil
		case []byte:
			return AppendByteVec(b, x), nil
		}
		return b, encodeErr("str: got %T", v)
	}
	n, signed := p.size()
	if n == 0 {
		return b, encodeErr("primitive %d", p)
	}
	if n <= 8 {
		if out, ok, err := appendSmallInt(b, v, n, signed); ok {
			return out, err
		}
	}
	x, err := toBig(v)
	if err != nil {
		return b, fmt.Errorf("%s: %w", p, err)
	}
	return appendLEBig(b, x, n, signed)
}

// appendSmallInt encodes an integer of at most 64 bits without big.Int;
// ok is false when v is not a Go integer.
func appendSmallInt(b []byte, v Value, n int, signed bool) ([]byte, bool, error) {
	var u uint64
	var neg bool
	switch x := v.(type) {
	case uint8:
		u = uint64(x)
	case uint16:
		u = uint64(x)
	case uint32:
		u = uint64(x)
	case uint64:
		u = x
	case uint:
		u = uint64(x)
	case int:
		u, neg = uint64(x), x < 0
	case int64:
		u, neg = uint64(x), x < 0
	case int32:
		u, neg = uint64(int64(x)), x < 0
	case int16:
		u, neg = uint64(int64(x)), x < 0
	case int8:
		u, neg = uint64(int64(x)), x < 0
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			i := rv.Int()
			u, neg = uint64(i), i < 0
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			u = rv.Uint()
		default:
			return b, false, nil
		}
	}
	bitsN := uint(8 * n)
	switch {
	case !signed && neg:
		return b, true, encodeErr("%d is negative for an unsigned %d-bit integer", int64(u), bitsN)
	case !signed && bitsN < 64 && u>>bitsN != 0:
		return b, true, encodeErr("%d does not fit %d bits", u, bitsN)
	case signed && !neg && u>>(bitsN-1) != 0:
		return b, true, encodeErr("%d does not fit %d signed bits", u, bitsN)
	case signed && neg && bitsN < 64 && int64(u) < -(int64(1)<<(bitsN-1)):
		return b, true, encodeErr("%d does not fit %d signed bits", int64(u), bitsN)
	}
	for i := 0; i < n; i++ {
		b = append(b, byte(u>>(8*i)))
	}
	return b, true, nil
}
