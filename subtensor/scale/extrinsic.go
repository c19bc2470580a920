package scale

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"

	"github.com/bistro-go/bistro"
)

// Era is a transaction's validity period. Period 0 is the immortal era;
// otherwise the transaction is valid for Period blocks (a power of two,
// 4 … 65536) from its birth block, whose number modulo Period is Phase.
type Era struct {
	Period uint64
	Phase  uint64
}

// MortalEra returns the era of period blocks (rounded up to a power of two,
// clamped to 4 … 65536) born at block current, as Substrate computes it.
func MortalEra(current, period uint64) Era {
	p := uint64(1 << 16)
	if period <= 1<<16 {
		p = 1
		for p < period {
			p <<= 1
		}
	}
	p = max(min(p, 1<<16), 4)
	q := max(p>>12, 1)
	return Era{Period: p, Phase: current % p / q * q}
}

// Immortal reports whether e is the immortal era.
func (e Era) Immortal() bool { return e.Period == 0 }

// Birth returns the number of the era's first block for a transaction
// included at block current: the block whose hash the signature commits to.
func (e Era) Birth(current uint64) uint64 {
	if e.Immortal() {
		return 0
	}
	return (max(current, e.Phase)-e.Phase)/e.Period*e.Period + e.Phase
}

// Death returns the first block at which the transaction is no longer
// valid.
func (e Era) Death(current uint64) uint64 {
	if e.Immortal() {
		return ^uint64(0)
	}
	return e.Birth(current) + e.Period
}

// Bytes encodes the era: 0x00 for immortal, else two bytes.
func (e Era) Bytes() []byte {
	if e.Immortal() {
		return []byte{0}
	}
	q := max(e.Period>>12, 1)
	tz := uint64(bits.TrailingZeros64(e.Period))
	enc := min(max(tz, 2)-1, 15) | (e.Phase/q)<<4
	return []byte{byte(enc), byte(enc >> 8)}
}

// decodeEra reads the era from its two-byte form (first byte nonzero).
func eraFromBytes(first, second byte) (Era, error) {
	if first == 0 {
		return Era{}, nil
	}
	enc := uint64(first) | uint64(second)<<8
	period := uint64(2) << (enc % 16)
	q := max(period>>12, 1)
	phase := (enc >> 4) * q
	if period < 4 || phase >= period {
		return Era{}, decodeErr("era bytes %#x %#x", first, second)
	}
	return Era{Period: period, Phase: phase}, nil
}

// TxParams are the inputs of a signed extrinsic that the signer commits
// to. Everything comes from the caller and the chain; nothing is assumed.
type TxParams struct {
	// SpecVersion and TxVersion are the runtime's (state_getRuntimeVersion:
	// specVersion, transactionVersion).
	SpecVersion uint32
	TxVersion   uint32
	// GenesisHash is the chain's block 0 hash.
	GenesisHash [32]byte
	// Era is the validity period (MortalEra(block, 64) for the usual mortal
	// transaction; the zero Era is immortal).
	Era Era
	// EraBlockHash is the hash of the era's birth block (Era.Birth of the
	// block the era was made from). Ignored for an immortal era, which
	// commits to GenesisHash.
	EraBlockHash [32]byte
	// Nonce is the signer's account nonce (system_accountNextIndex).
	Nonce uint64
	// Tip is the tip in rao.
	Tip uint64
	// MetadataHash, when set, enables CheckMetadataHash with this
	// RFC-0078 digest of the metadata; nil disables it.
	MetadataHash *[32]byte
	// Extra and Implicit give the explicit and implicit data of signed
	// extensions this package does not know, by identifier; they also
	// override those it knows.
	Extra, Implicit map[string]Value
}

// ErrUnknownExtension is wrapped when the runtime has a signed extension
// that carries data this package cannot fill; TxParams.Extra or Implicit
// can supply it.
var ErrUnknownExtension = errors.New("scale: signed extension with unknown data")

// IsEmpty reports whether values of type id always encode to no bytes
// (unit structs, PhantomData, empty tuples).
func (reg *Registry) IsEmpty(id TypeID) bool { return reg.isEmpty(id, 0) }

func (reg *Registry) isEmpty(id TypeID, depth int) bool {
	t, err := reg.Type(id)
	if err != nil || depth > maxDepth {
		return false
	}
	switch t.Kind {
	case KindComposite:
		for _, f := range t.Fields {
			if !reg.isEmpty(f.Type, depth+1) {
				return false
			}
		}
		return true
	case KindTuple:
		for _, e := range t.Tuple {
			if !reg.isEmpty(e, depth+1) {
				return false
			}
		}
		return true
	case KindArray:
		return t.Len == 0 || reg.isEmpty(t.Elem, depth+1)
	}
	return false
}

// AppendExtra appends the explicit data of every signed extension, in the
// metadata's order.
func (md *Metadata) AppendExtra(b []byte, p *TxParams) ([]byte, error) {
	for _, x := range md.Extrinsic.Extensions {
		v, skip, err := md.extraValue(x, p)
		if err != nil {
			return b, err
		}
		if skip {
			continue
		}
		if b, err = md.Types.AppendEncode(b, x.Type, v); err != nil {
			return b, fmt.Errorf("signed extension %s: %w", x.Identifier, err)
		}
	}
	return b, nil
}

// AppendImplicit appends the implicit ("additional signed") data of every
// signed extension, in the metadata's order.
func (md *Metadata) AppendImplicit(b []byte, p *TxParams) ([]byte, error) {
	for _, x := range md.Extrinsic.Extensions {
		v, skip, err := md.implicitValue(x, p)
		if err != nil {
			return b, err
		}
		if skip {
			continue
		}
		if b, err = md.Types.AppendEncode(b, x.Implicit, v); err != nil {
			return b, fmt.Errorf("signed extension %s (implicit): %w", x.Identifier, err)
		}
	}
	return b, nil
}

func (md *Metadata) eraValue(e Era) Value {
	enc := e.Bytes()
	if len(enc) == 1 {
		return &VariantValue{Index: 0}
	}
	return &VariantValue{Index: enc[0], Fields: Composite{{Value: enc[1]}}}
}

func (md *Metadata) extraValue(x Extension, p *TxParams) (v Value, skip bool, err error) {
	if v, ok := p.Extra[x.Identifier]; ok {
		return v, false, nil
	}
	if md.Types.IsEmpty(x.Type) {
		return nil, true, nil
	}
	switch x.Identifier {
	case "CheckMortality", "CheckEra":
		return md.eraValue(p.Era), false, nil
	case "CheckNonce":
		return p.Nonce, false, nil
	case "ChargeTransactionPayment":
		return p.Tip, false, nil
	case "ChargeAssetTxPayment":
		return map[string]Value{"tip": p.Tip, "asset_id": nil}, false, nil
	case "CheckMetadataHash":
		if p.MetadataHash != nil {
			return "Enabled", false, nil
		}
		return "Disabled", false, nil
	}
	return nil, false, fmt.Errorf("%w: %s carries %s; supply it in TxParams.Extra", ErrUnknownExtension, x.Identifier, md.Types.Describe(x.Type))
}

func (md *Metadata) implicitValue(x Extension, p *TxParams) (v Value, skip bool, err error) {
	if v, ok := p.Implicit[x.Identifier]; ok {
		return v, false, nil
	}
	if md.Types.IsEmpty(x.Implicit) {
		return nil, true, nil
	}
	switch x.Identifier {
	case "CheckSpecVersion":
		return p.SpecVersion, false, nil
	case "CheckTxVersion":
		return p.TxVersion, false, nil
	case "CheckGenesis":
		return p.GenesisHash, false, nil
	case "CheckMortality", "CheckEra":
		if p.Era.Immortal() {
			return p.GenesisHash, false, nil
		}
		return p.EraBlockHash, false, nil
	case "CheckMetadataHash":
		if p.MetadataHash != nil {
			return *p.MetadataHash, false, nil
		}
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("%w: %s signs %s; supply it in TxParams.Implicit", ErrUnknownExtension, x.Identifier, md.Types.Describe(x.Implicit))
}

// SigningPayload returns what the signer of a version-4 extrinsic signs:
// call ‖ extra ‖ implicit, hashed with BLAKE2b-256 when longer than 256
// bytes. extra is returned too: it goes into the extrinsic.
func (md *Metadata) SigningPayload(call []byte, p *TxParams) (payload, extra []byte, err error) {
	if !md.ExtrinsicVersion4() {
		return nil, nil, encodeErr("the runtime does not accept version-4 extrinsics (versions %v)", md.Extrinsic.Versions)
	}
	extra, err = md.AppendExtra(nil, p)
	if err != nil {
		return nil, nil, err
	}
	payload = make([]byte, 0, len(call)+len(extra)+128)
	payload = append(append(payload, call...), extra...)
	if payload, err = md.AppendImplicit(payload, p); err != nil {
		return nil, nil, err
	}
	return hashPayload(payload), extra, nil
}

func hashPayload(payload []byte) []byte {
	if len(payload) > 256 {
		h := Blake2b256(payload)
		return h[:]
	}
	return payload
}

// SignExtrinsic builds and signs a version-4 extrinsic: the call (from
// EncodeCall), signed by signer (sr25519) with the extensions the metadata
// lists. The result is what author_submitExtrinsic takes: the compact
// length, then the extrinsic.
func (md *Metadata) SignExtrinsic(call []byte, signer bistro.Signer, p *TxParams) ([]byte, error) {
	if signer == nil {
		return nil, encodeErr("nil signer")
	}
	payload, extra, err := md.SigningPayload(call, p)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("scale: sign extrinsic: %w", err)
	}
	return md.AssembleSigned(signer.Hotkey(), sig, extra, call)
}

// AssembleSigned lays out a signed version-4 extrinsic from its parts:
// compact length ‖ 0x84 ‖ MultiAddress::Id(signer) ‖
// MultiSignature::Sr25519(sig) ‖ extra ‖ call, the address and signature
// encoded by the metadata's types.
func (md *Metadata) AssembleSigned(signer bistro.Hotkey, sig, extra, call []byte) ([]byte, error) {
	body := make([]byte, 0, 1+33+65+len(extra)+len(call))
	body = append(body, 0x84)
	var err error
	if body, err = md.Types.AppendEncode(body, md.Extrinsic.AddressType, &VariantValue{Name: "Id", Fields: Composite{{Value: signer[:]}}}); err != nil {
		return nil, fmt.Errorf("extrinsic address: %w", err)
	}
	if body, err = md.Types.AppendEncode(body, md.Extrinsic.SignatureType, &VariantValue{Name: "Sr25519", Fields: Composite{{Value: sig}}}); err != nil {
		return nil, fmt.Errorf("extrinsic signature: %w", err)
	}
	body = append(append(body, extra...), call...)
	out := AppendCompact(make([]byte, 0, len(body)+5), uint64(len(body)))
	return append(out, body...), nil
}

// UnsignedExtrinsic returns an unsigned (bare) version-4 extrinsic.
func UnsignedExtrinsic(call []byte) []byte {
	out := AppendCompact(nil, uint64(len(call)+1))
	return append(append(out, 0x04), call...)
}

// ExtensionValue is the decoded explicit data of one signed extension.
type ExtensionValue struct {
	Identifier string
	Value      Value
}

// Extrinsic is a decoded extrinsic.
type Extrinsic struct {
	// Version is the format version (4 or 5).
	Version uint8
	// Signed is set for a signed version-4 extrinsic, General for a
	// version-5 general transaction; neither for a bare one.
	Signed, General bool
	// Address is the decoded MultiAddress; Signer its account id when it is
	// MultiAddress::Id.
	Address   Value
	Signer    bistro.Hotkey
	HasSigner bool
	// Scheme ("Sr25519", "Ed25519", "Ecdsa") and Signature are the decoded
	// MultiSignature.
	Scheme    string
	Signature []byte
	// ExtensionVersion is the extension version of a general transaction.
	ExtensionVersion uint8
	// Extensions is the explicit data of each signed extension; Era, Nonce
	// and Tip are read from it.
	Extensions []ExtensionValue
	Era        Era
	Nonce      uint64
	Tip        *big.Int
	Call       *Call
	// CallBytes and ExtraBytes are the raw call and extension data, as the
	// signature covers them.
	CallBytes, ExtraBytes []byte
	// Hash is the extrinsic hash: BLAKE2b-256 of the encoding with its
	// length prefix.
	Hash [32]byte
}

// DecodeExtrinsic decodes an extrinsic with its compact length prefix (as
// in a block body or author_submitExtrinsic), requiring every byte
// consumed.
func (md *Metadata) DecodeExtrinsic(b []byte) (*Extrinsic, error) {
	r := NewReader(b)
	n, err := r.length(1)
	if err != nil {
		return nil, fmt.Errorf("extrinsic length: %w", err)
	}
	if n != r.Len() {
		return nil, decodeErr("extrinsic length %d, %d bytes follow", n, r.Len())
	}
	x := &Extrinsic{Hash: Blake2b256(b)}
	head, err := r.U8()
	if err != nil {
		return nil, err
	}
	x.Version = head & 0x3f
	switch {
	case head == 0x84:
		x.Signed = true
	case head == 0x04, head == 0x05:
	case head == 0x45:
		x.General = true
	default:
		return nil, decodeErr("extrinsic format byte %#x (want 0x04, 0x84, 0x05 or 0x45)", head)
	}
	exts := md.Extrinsic.Extensions
	if x.Signed {
		if x.Address, err = md.Types.DecodeFrom(r, md.Extrinsic.AddressType); err != nil {
			return nil, fmt.Errorf("extrinsic address: %w", err)
		}
		if v, ok := x.Address.(*VariantValue); ok && v.Name == "Id" && len(v.Fields) == 1 {
			if id, ok := firstBytes(v.Fields[0].Value); ok && len(id) == 32 {
				copy(x.Signer[:], id)
				x.HasSigner = true
			}
		}
		sig, err := md.Types.DecodeFrom(r, md.Extrinsic.SignatureType)
		if err != nil {
			return nil, fmt.Errorf("extrinsic signature: %w", err)
		}
		if v, ok := sig.(*VariantValue); ok && len(v.Fields) == 1 {
			x.Scheme = v.Name
			x.Signature, _ = firstBytes(v.Fields[0].Value)
		}
	}
	if x.General {
		if x.ExtensionVersion, err = r.U8(); err != nil {
			return nil, err
		}
		idx, ok := md.Extrinsic.ByVersion[x.ExtensionVersion]
		if !ok {
			return nil, decodeErr("general transaction of extension version %d the runtime lacks", x.ExtensionVersion)
		}
		exts = nil
		for _, k := range idx {
			exts = append(exts, md.Extrinsic.AllExtensions[k])
		}
	}
	if x.Signed || x.General {
		start := r.Offset()
		for _, e := range exts {
			v, err := md.Types.DecodeFrom(r, e.Type)
			if err != nil {
				return nil, fmt.Errorf("signed extension %s: %w", e.Identifier, err)
			}
			x.Extensions = append(x.Extensions, ExtensionValue{Identifier: e.Identifier, Value: v})
			if err := x.readKnown(e.Identifier, v); err != nil {
				return nil, err
			}
		}
		x.ExtraBytes = append([]byte(nil), r.b[start:r.Offset()]...)
	}
	x.CallBytes = append([]byte(nil), r.b[r.Offset():]...)
	if x.Call, err = md.decodeCall(r); err != nil {
		return nil, err
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("extrinsic call %s.%s: %w", x.Call.Pallet, x.Call.Name, err)
	}
	return x, nil
}

// readKnown fills Era, Nonce and Tip from the extensions that carry them.
func (x *Extrinsic) readKnown(id string, v Value) error {
	inner := v
	if c, ok := v.(Composite); ok && len(c) == 1 {
		inner = c[0].Value
	}
	switch id {
	case "CheckMortality", "CheckEra":
		ev, ok := inner.(*VariantValue)
		if !ok {
			return nil
		}
		var second byte
		if len(ev.Fields) == 1 {
			second, _ = ev.Fields[0].Value.(uint8)
		}
		era, err := eraFromBytes(ev.Index, second)
		if err != nil {
			return err
		}
		x.Era = era
	case "CheckNonce":
		if n, err := toBig(inner); err == nil && n.IsUint64() {
			x.Nonce = n.Uint64()
		}
	case "ChargeTransactionPayment":
		if n, err := toBig(inner); err == nil {
			x.Tip = n
		}
	case "ChargeAssetTxPayment":
		if c, ok := v.(Composite); ok {
			if t, ok := c.Get("tip"); ok {
				if n, err := toBig(t); err == nil {
					x.Tip = n
				}
			}
		}
	}
	return nil
}

// firstBytes finds the bytes of an account id or signature, looking through
// composites of one field.
func firstBytes(v Value) ([]byte, bool) {
	for i := 0; i < 8; i++ {
		switch x := v.(type) {
		case []byte:
			return x, true
		case Composite:
			if len(x) != 1 {
				return nil, false
			}
			v = x[0].Value
		default:
			return nil, false
		}
	}
	return nil, false
}

// VerifyExtrinsic checks the sr25519 signature of a decoded signed
// extrinsic against the payload rebuilt from its call, its extension data
// and the implicit data of p (spec and transaction versions, genesis hash,
// era block hash; p.Era and p.Nonce are taken from x). It returns
// bistro.ErrBadSignature when the signature does not verify.
func (md *Metadata) VerifyExtrinsic(x *Extrinsic, p TxParams) error {
	if !x.Signed || !x.HasSigner {
		return fmt.Errorf("%w: extrinsic is not signed by an account id", bistro.ErrBadSignature)
	}
	if x.Scheme != "Sr25519" {
		return fmt.Errorf("%w: %s signature; only sr25519 is checked", bistro.ErrBadSignature, x.Scheme)
	}
	p.Era = x.Era
	payload := append(append([]byte(nil), x.CallBytes...), x.ExtraBytes...)
	payload, err := md.AppendImplicit(payload, &p)
	if err != nil {
		return err
	}
	if !bistro.Verify(x.Signer, hashPayload(payload), x.Signature) {
		return bistro.ErrBadSignature
	}
	return nil
}
