package scale

import (
	"fmt"
)

// Call is a decoded runtime call.
type Call struct {
	Pallet      string
	Name        string
	PalletIndex uint8
	CallIndex   uint8
	Args        Composite
}

// EncodeCall encodes a call by pallet and call name with its arguments by
// field name: the pallet's index, the call's index, then each argument as
// its type says — all from the metadata.
func (md *Metadata) EncodeCall(pallet, call string, args map[string]Value) ([]byte, error) {
	return md.AppendCall(nil, pallet, call, args)
}

// AppendCall appends the encoding of a call to b (see EncodeCall).
func (md *Metadata) AppendCall(b []byte, pallet, call string, args map[string]Value) ([]byte, error) {
	p, v, err := md.Call(pallet, call)
	if err != nil {
		return b, err
	}
	if len(args) != len(v.Fields) {
		return b, encodeErr("%s.%s takes %d arguments (%s), got %d", pallet, call, len(v.Fields), fieldNames(v.Fields), len(args))
	}
	out := append(b, p.Index, v.Index)
	for i, f := range v.Fields {
		a, ok := args[f.Name]
		if !ok {
			return b, encodeErr("%s.%s: argument %q missing", pallet, call, f.Name)
		}
		if out, err = md.Types.encode(out, f.Type, a, 0); err != nil {
			return b, fmt.Errorf("%s.%s: %w", pallet, call, fieldErr(f.Name, i, err))
		}
	}
	return out, nil
}

// DecodeCall decodes one call (a RuntimeCall), requiring every byte
// consumed.
func (md *Metadata) DecodeCall(b []byte) (*Call, error) {
	r := NewReader(b)
	c, err := md.decodeCall(r)
	if err != nil {
		return nil, err
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("call %s.%s: %w", c.Pallet, c.Name, err)
	}
	return c, nil
}

func (md *Metadata) decodeCall(r *Reader) (*Call, error) {
	pi, err := r.U8()
	if err != nil {
		return nil, fmt.Errorf("call: %w", err)
	}
	p, err := md.PalletByIndex(pi)
	if err != nil || !p.HasCalls {
		return nil, decodeErr("call of pallet index %d: the runtime has no such pallet with calls", pi)
	}
	v, err := md.Types.decode(r, p.CallType, 1)
	if err != nil {
		return nil, fmt.Errorf("call of %s: %w", p.Name, err)
	}
	vv, ok := v.(*VariantValue)
	if !ok {
		return nil, decodeErr("call type of %s is not an enum", p.Name)
	}
	return &Call{Pallet: p.Name, Name: vv.Name, PalletIndex: pi, CallIndex: vv.Index, Args: vv.Fields}, nil
}
