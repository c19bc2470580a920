package scale

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
)

// Metadata is a runtime's metadata (RuntimeMetadata v14, v15 or v16) in one
// shape for all three versions: the type registry and what refers to it.
// It is read-only once decoded and safe for concurrent use.
type Metadata struct {
	// Version is the metadata version: 14, 15 or 16.
	Version int
	// Types holds every type the rest refers to.
	Types *Registry
	// Pallets in the order of the metadata (not necessarily by index).
	Pallets []Pallet
	// Extrinsic says how extrinsics are built.
	Extrinsic ExtrinsicInfo
	// RuntimeType is the Runtime type (v14, v15; 0 in v16).
	RuntimeType TypeID
	// APIs are the runtime APIs with their input and output types (v15, v16).
	APIs []RuntimeAPI
	// CallType, EventType and ErrorType are the outer enums RuntimeCall,
	// RuntimeEvent and RuntimeError. v14 has no outer enums: CallType comes
	// from the extrinsic type, EventType from System.Events, ErrorType is 0.
	CallType, EventType, ErrorType TypeID
	// Custom holds the custom values of v15 and v16 by name.
	Custom map[string]CustomValue

	palletByName map[string]int
}

// CustomValue is a custom metadata value: a type and its encoding.
type CustomValue struct {
	Type  TypeID
	Value []byte
}

// Deprecation is the deprecation note of an item (v16); Kind 0 means not
// deprecated, 1 deprecated without a note, 2 deprecated with Note and
// Since.
type Deprecation struct {
	Kind        uint8
	Note, Since string
}

// Pallet is one pallet of the runtime.
type Pallet struct {
	Name  string
	Index uint8
	// StoragePrefix is the prefix of every storage key of the pallet;
	// Storage lists its entries.
	StoragePrefix string
	Storage       []StorageEntry
	// HasCalls, HasEvents, HasErrors say whether CallType, EventType,
	// ErrorType are set: the pallet's enums of calls, events, errors.
	HasCalls, HasEvents, HasErrors bool
	CallType, EventType, ErrorType TypeID
	Constants                      []Constant
	// AssociatedTypes and ViewFunctions exist in v16 only.
	AssociatedTypes []AssociatedType
	ViewFunctions   []ViewFunction
	Docs            []string
	Deprecation     Deprecation

	entryByName map[string]int
}

// StorageEntry is one storage item of a pallet.
type StorageEntry struct {
	Name string
	// Optional is true when a missing value reads as None (OptionQuery);
	// false when it reads as Default (ValueQuery).
	Optional bool
	// Hashers is empty for a plain value; a map has one hasher per key.
	Hashers []Hasher
	// KeyType is the key of a map: with several hashers, a tuple of the
	// keys.
	KeyType   TypeID
	ValueType TypeID
	// Default is the encoded value a missing ValueQuery entry reads as.
	Default     []byte
	Docs        []string
	Deprecation Deprecation
}

// Constant is a pallet constant with its encoded value.
type Constant struct {
	Name        string
	Type        TypeID
	Value       []byte
	Docs        []string
	Deprecation Deprecation
}

// AssociatedType is a pallet's associated type (v16).
type AssociatedType struct {
	Name string
	Type TypeID
	Docs []string
}

// ViewFunction is a pallet view function (v16).
type ViewFunction struct {
	ID          [32]byte
	Name        string
	Inputs      []Param
	Output      TypeID
	Docs        []string
	Deprecation Deprecation
}

// Param is a named input of a runtime API method or view function.
type Param struct {
	Name string
	Type TypeID
}

// RuntimeAPI is a runtime API trait (v15, v16).
type RuntimeAPI struct {
	Name        string
	Methods     []RuntimeAPIMethod
	Docs        []string
	Version     uint32 // v16
	Deprecation Deprecation
}

// RuntimeAPIMethod is a method of a runtime API, called with state_call
// as "<API>_<method>" and SCALE-encoded inputs.
type RuntimeAPIMethod struct {
	Name        string
	Inputs      []Param
	Output      TypeID
	Docs        []string
	Deprecation Deprecation
}

// Extension is a signed (transaction) extension: the explicit data it
// adds to an extrinsic (Type) and the implicit data it adds only to the
// signing payload (Implicit, "additional signed").
type Extension struct {
	Identifier string
	Type       TypeID
	Implicit   TypeID
}

// ExtrinsicInfo describes the runtime's extrinsics.
type ExtrinsicInfo struct {
	// Versions are the extrinsic format versions the runtime accepts.
	Versions []uint8
	// Type is the UncheckedExtrinsic type (v14); 0 otherwise.
	Type TypeID
	// AddressType (MultiAddress), CallType (RuntimeCall), SignatureType
	// (MultiSignature): the parts of a signed extrinsic.
	AddressType, CallType, SignatureType TypeID
	// Extensions are the signed extensions of a version-4 extrinsic, in the
	// order their data is encoded.
	Extensions []Extension
	// AllExtensions and ByVersion exist in v16: every transaction
	// extension, and the indices into AllExtensions that each extension
	// version uses (version 0 is the one of v4 extrinsics).
	AllExtensions []Extension
	ByVersion     map[uint8][]int
}

// magic is "meta", the prefix of RuntimeMetadataPrefixed.
var magic = []byte("meta")

// DecodeMetadata decodes RuntimeMetadataPrefixed ("meta", version byte,
// metadata) of version 14, 15 or 16, requiring every byte consumed.
func DecodeMetadata(b []byte) (*Metadata, error) {
	if len(b) < 5 || !bytes.Equal(b[:4], magic) {
		return nil, decodeErr("metadata: no \"meta\" prefix")
	}
	md := &Metadata{Version: int(b[4])}
	r := NewReader(b[5:])
	var err error
	switch md.Version {
	case 14, 15, 16:
		err = md.decode(r)
	default:
		return nil, decodeErr("metadata version %d (want 14, 15 or 16)", md.Version)
	}
	if err == nil {
		err = r.Done()
	}
	if err != nil {
		return nil, fmt.Errorf("metadata v%d: %w", md.Version, err)
	}
	if err := md.index(); err != nil {
		return nil, fmt.Errorf("metadata v%d: %w", md.Version, err)
	}
	return md, nil
}

// DecodeMetadataHex decodes metadata as state_getMetadata returns it: hex
// with or without 0x, surrounding space ignored.
func DecodeMetadataHex(s string) (*Metadata, error) {
	b, err := DecodeHex(s)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return DecodeMetadata(b)
}

// UnwrapOpaqueMetadata unwraps the result of the runtime API call
// Metadata_metadata_at_version: Option<OpaqueMetadata>, OpaqueMetadata
// being a Vec<u8> of RuntimeMetadataPrefixed. None is an error.
func UnwrapOpaqueMetadata(b []byte) ([]byte, error) {
	r := NewReader(b)
	some, err := r.Option()
	if err != nil {
		return nil, fmt.Errorf("opaque metadata: %w", err)
	}
	if !some {
		return nil, decodeErr("opaque metadata: None (the runtime lacks that version)")
	}
	n, err := r.length(1)
	if err != nil {
		return nil, fmt.Errorf("opaque metadata: %w", err)
	}
	if n != r.Len() {
		return nil, decodeErr("opaque metadata: length %d, %d bytes follow", n, r.Len())
	}
	return b[r.Offset():], nil
}

// DecodeHex decodes hex with an optional 0x prefix; space around it is
// ignored.
func DecodeHex(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: hex: %v", ErrDecode, err)
	}
	return b, nil
}

func (md *Metadata) decode(r *Reader) error {
	var err error
	if md.Types, err = decodeRegistry(r); err != nil {
		return err
	}
	n, err := r.length(4)
	if err != nil {
		return fmt.Errorf("pallets: %w", err)
	}
	md.Pallets = make([]Pallet, n)
	for i := range md.Pallets {
		if err := md.decodePallet(r, &md.Pallets[i]); err != nil {
			return fmt.Errorf("pallet %d (%s): %w", i, md.Pallets[i].Name, err)
		}
	}
	if err := md.decodeExtrinsic(r); err != nil {
		return fmt.Errorf("extrinsic: %w", err)
	}
	if md.Version < 16 {
		if md.RuntimeType, err = decodeTypeID(r); err != nil {
			return fmt.Errorf("runtime type: %w", err)
		}
	}
	if md.Version == 14 {
		return nil
	}
	if err := md.decodeAPIs(r); err != nil {
		return fmt.Errorf("runtime APIs: %w", err)
	}
	for _, p := range []*TypeID{&md.CallType, &md.EventType, &md.ErrorType} {
		if *p, err = decodeTypeID(r); err != nil {
			return fmt.Errorf("outer enums: %w", err)
		}
	}
	nc, err := r.length(3)
	if err != nil {
		return fmt.Errorf("custom: %w", err)
	}
	md.Custom = make(map[string]CustomValue, nc)
	for i := 0; i < nc; i++ {
		name, err := r.String()
		if err != nil {
			return fmt.Errorf("custom: %w", err)
		}
		var v CustomValue
		if v.Type, err = decodeTypeID(r); err != nil {
			return fmt.Errorf("custom %q: %w", name, err)
		}
		if v.Value, err = r.ByteVec(); err != nil {
			return fmt.Errorf("custom %q: %w", name, err)
		}
		md.Custom[name] = v
	}
	return nil
}

func (md *Metadata) decodeDeprecation(r *Reader, enum bool) (Deprecation, error) {
	var d Deprecation
	if md.Version < 16 {
		return d, nil
	}
	if enum {
		// EnumDeprecationInfo: BTreeMap<u8, VariantDeprecationInfo>. The
		// per-variant notes are read and summarized as "deprecated".
		n, err := r.length(2)
		if err != nil {
			return d, err
		}
		for i := 0; i < n; i++ {
			if _, err := r.U8(); err != nil {
				return d, err
			}
			v, err := md.decodeDeprecationItem(r)
			if err != nil {
				return d, err
			}
			if v.Kind == 0 {
				return d, decodeErr("variant deprecation kind 0")
			}
			d = v
		}
		return d, nil
	}
	return md.decodeDeprecationItem(r)
}

func (md *Metadata) decodeDeprecationItem(r *Reader) (Deprecation, error) {
	var d Deprecation
	var err error
	if d.Kind, err = r.U8(); err != nil {
		return d, err
	}
	switch d.Kind {
	case 0, 1:
	case 2:
		if d.Note, err = r.String(); err != nil {
			return d, err
		}
		if d.Since, err = decodeOptString(r); err != nil {
			return d, err
		}
	default:
		return d, decodeErr("deprecation kind %d", d.Kind)
	}
	return d, nil
}

func (md *Metadata) decodePallet(r *Reader, p *Pallet) error {
	var err error
	if p.Name, err = r.String(); err != nil {
		return err
	}
	hasStorage, err := r.Option()
	if err != nil {
		return err
	}
	if hasStorage {
		if p.StoragePrefix, err = r.String(); err != nil {
			return err
		}
		n, err := r.length(4)
		if err != nil {
			return err
		}
		p.Storage = make([]StorageEntry, n)
		for i := range p.Storage {
			if err := md.decodeEntry(r, &p.Storage[i]); err != nil {
				return fmt.Errorf("storage %d (%s): %w", i, p.Storage[i].Name, err)
			}
		}
	}
	for _, item := range []struct {
		has *bool
		ty  *TypeID
	}{{&p.HasCalls, &p.CallType}, {&p.HasEvents, &p.EventType}} {
		if *item.has, err = r.Option(); err != nil {
			return err
		}
		if *item.has {
			if *item.ty, err = decodeTypeID(r); err != nil {
				return err
			}
			if _, err := md.decodeDeprecation(r, true); err != nil {
				return err
			}
		}
	}
	nc, err := r.length(3)
	if err != nil {
		return err
	}
	p.Constants = make([]Constant, nc)
	for i := range p.Constants {
		c := &p.Constants[i]
		if c.Name, err = r.String(); err != nil {
			return err
		}
		if c.Type, err = decodeTypeID(r); err != nil {
			return err
		}
		if c.Value, err = r.ByteVec(); err != nil {
			return err
		}
		if c.Docs, err = decodeStrings(r); err != nil {
			return err
		}
		if c.Deprecation, err = md.decodeDeprecation(r, false); err != nil {
			return err
		}
	}
	if p.HasErrors, err = r.Option(); err != nil {
		return err
	}
	if p.HasErrors {
		if p.ErrorType, err = decodeTypeID(r); err != nil {
			return err
		}
		if _, err := md.decodeDeprecation(r, true); err != nil {
			return err
		}
	}
	if md.Version >= 16 {
		n, err := r.length(3)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			var a AssociatedType
			if a.Name, err = r.String(); err != nil {
				return err
			}
			if a.Type, err = decodeTypeID(r); err != nil {
				return err
			}
			if a.Docs, err = decodeStrings(r); err != nil {
				return err
			}
			p.AssociatedTypes = append(p.AssociatedTypes, a)
		}
		if n, err = r.length(36); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			var v ViewFunction
			id, err := r.take(32)
			if err != nil {
				return err
			}
			copy(v.ID[:], id)
			if v.Name, err = r.String(); err != nil {
				return err
			}
			if v.Inputs, err = decodeParams(r); err != nil {
				return err
			}
			if v.Output, err = decodeTypeID(r); err != nil {
				return err
			}
			if v.Docs, err = decodeStrings(r); err != nil {
				return err
			}
			if v.Deprecation, err = md.decodeDeprecation(r, false); err != nil {
				return err
			}
			p.ViewFunctions = append(p.ViewFunctions, v)
		}
	}
	if p.Index, err = r.U8(); err != nil {
		return err
	}
	if md.Version >= 15 {
		if p.Docs, err = decodeStrings(r); err != nil {
			return err
		}
	}
	if p.Deprecation, err = md.decodeDeprecation(r, false); err != nil {
		return err
	}
	return nil
}

func (md *Metadata) decodeEntry(r *Reader, e *StorageEntry) error {
	var err error
	if e.Name, err = r.String(); err != nil {
		return err
	}
	mod, err := r.U8()
	if err != nil {
		return err
	}
	switch mod {
	case 0:
		e.Optional = true
	case 1:
	default:
		return decodeErr("storage modifier %d", mod)
	}
	kind, err := r.U8()
	if err != nil {
		return err
	}
	switch kind {
	case 0:
		if e.ValueType, err = decodeTypeID(r); err != nil {
			return err
		}
	case 1:
		n, err := r.length(1)
		if err != nil {
			return err
		}
		if n == 0 {
			return decodeErr("storage map without hashers")
		}
		e.Hashers = make([]Hasher, n)
		for i := range e.Hashers {
			h, err := r.U8()
			if err != nil {
				return err
			}
			if !Hasher(h).Valid() {
				return decodeErr("storage hasher %d", h)
			}
			e.Hashers[i] = Hasher(h)
		}
		if e.KeyType, err = decodeTypeID(r); err != nil {
			return err
		}
		if e.ValueType, err = decodeTypeID(r); err != nil {
			return err
		}
	default:
		return decodeErr("storage entry type %d", kind)
	}
	if e.Default, err = r.ByteVec(); err != nil {
		return err
	}
	if e.Docs, err = decodeStrings(r); err != nil {
		return err
	}
	e.Deprecation, err = md.decodeDeprecation(r, false)
	return err
}

func decodeParams(r *Reader) ([]Param, error) {
	n, err := r.length(2)
	if err != nil {
		return nil, err
	}
	var ps []Param
	for i := 0; i < n; i++ {
		var p Param
		if p.Name, err = r.String(); err != nil {
			return nil, err
		}
		if p.Type, err = decodeTypeID(r); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func decodeExtensions(r *Reader) ([]Extension, error) {
	n, err := r.length(3)
	if err != nil {
		return nil, err
	}
	exts := make([]Extension, n)
	for i := range exts {
		x := &exts[i]
		if x.Identifier, err = r.String(); err != nil {
			return nil, err
		}
		if x.Type, err = decodeTypeID(r); err != nil {
			return nil, err
		}
		if x.Implicit, err = decodeTypeID(r); err != nil {
			return nil, err
		}
	}
	return exts, nil
}

func (md *Metadata) decodeExtrinsic(r *Reader) error {
	x := &md.Extrinsic
	var err error
	switch md.Version {
	case 14:
		if x.Type, err = decodeTypeID(r); err != nil {
			return err
		}
		v, err := r.U8()
		if err != nil {
			return err
		}
		x.Versions = []uint8{v}
		if x.Extensions, err = decodeExtensions(r); err != nil {
			return err
		}
		return md.extrinsicParamsV14()
	case 15:
		v, err := r.U8()
		if err != nil {
			return err
		}
		x.Versions = []uint8{v}
		for _, p := range []*TypeID{&x.AddressType, &x.CallType, &x.SignatureType, new(TypeID)} {
			if *p, err = decodeTypeID(r); err != nil {
				return err
			}
		}
		x.Extensions, err = decodeExtensions(r)
		return err
	}
	if x.Versions, err = r.ByteVec(); err != nil {
		return err
	}
	for _, p := range []*TypeID{&x.AddressType, &x.CallType, &x.SignatureType} {
		if *p, err = decodeTypeID(r); err != nil {
			return err
		}
	}
	n, err := r.length(2)
	if err != nil {
		return err
	}
	x.ByVersion = make(map[uint8][]int, n)
	for i := 0; i < n; i++ {
		v, err := r.U8()
		if err != nil {
			return err
		}
		m, err := r.length(1)
		if err != nil {
			return err
		}
		idx := make([]int, m)
		for j := range idx {
			k, err := r.Compact()
			if err != nil {
				return err
			}
			if k > 1<<16 {
				return decodeErr("extension index %d", k)
			}
			idx[j] = int(k)
		}
		x.ByVersion[v] = idx
	}
	if x.AllExtensions, err = decodeExtensions(r); err != nil {
		return err
	}
	for v, idx := range x.ByVersion {
		for _, k := range idx {
			if k >= len(x.AllExtensions) {
				return decodeErr("extension version %d refers to extension %d of %d", v, k, len(x.AllExtensions))
			}
		}
	}
	if idx, ok := x.ByVersion[0]; ok {
		for _, k := range idx {
			x.Extensions = append(x.Extensions, x.AllExtensions[k])
		}
	}
	return nil
}

// extrinsicParamsV14 reads the address, call and signature types from the
// generic parameters of the UncheckedExtrinsic type.
func (md *Metadata) extrinsicParamsV14() error {
	t, err := md.Types.Type(md.Extrinsic.Type)
	if err != nil {
		return err
	}
	found := 0
	for _, p := range t.Params {
		if !p.HasType {
			continue
		}
		switch p.Name {
		case "Address":
			md.Extrinsic.AddressType, found = p.Type, found|1
		case "Call":
			md.Extrinsic.CallType, found = p.Type, found|2
		case "Signature":
			md.Extrinsic.SignatureType, found = p.Type, found|4
		}
	}
	if found != 7 {
		return decodeErr("extrinsic type %s lacks Address, Call or Signature parameters", md.Types.Describe(md.Extrinsic.Type))
	}
	return nil
}

func (md *Metadata) decodeAPIs(r *Reader) error {
	n, err := r.length(3)
	if err != nil {
		return err
	}
	md.APIs = make([]RuntimeAPI, n)
	for i := range md.APIs {
		a := &md.APIs[i]
		if a.Name, err = r.String(); err != nil {
			return err
		}
		nm, err := r.length(4)
		if err != nil {
			return err
		}
		a.Methods = make([]RuntimeAPIMethod, nm)
		for j := range a.Methods {
			m := &a.Methods[j]
			if m.Name, err = r.String(); err != nil {
				return err
			}
			if m.Inputs, err = decodeParams(r); err != nil {
				return err
			}
			if m.Output, err = decodeTypeID(r); err != nil {
				return err
			}
			if m.Docs, err = decodeStrings(r); err != nil {
				return err
			}
			if m.Deprecation, err = md.decodeDeprecation(r, false); err != nil {
				return err
			}
		}
		if a.Docs, err = decodeStrings(r); err != nil {
			return err
		}
		if md.Version >= 16 {
			v, err := r.Compact()
			if err != nil {
				return err
			}
			a.Version = uint32(v)
			if a.Deprecation, err = md.decodeDeprecation(r, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// index builds the lookups by name and checks every type id the metadata
// refers to.
func (md *Metadata) index() error {
	ids := []TypeID{md.Extrinsic.AddressType, md.Extrinsic.CallType, md.Extrinsic.SignatureType}
	if md.Version == 14 {
		md.CallType = md.Extrinsic.CallType
	} else {
		ids = append(ids, md.CallType, md.EventType, md.ErrorType)
	}
	md.palletByName = make(map[string]int, len(md.Pallets))
	for i := range md.Pallets {
		p := &md.Pallets[i]
		md.palletByName[p.Name] = i
		p.entryByName = make(map[string]int, len(p.Storage))
		for j, e := range p.Storage {
			p.entryByName[e.Name] = j
			ids = append(ids, e.ValueType)
			if len(e.Hashers) > 0 {
				ids = append(ids, e.KeyType)
			}
		}
		for _, ok := range []struct {
			has bool
			id  TypeID
		}{{p.HasCalls, p.CallType}, {p.HasEvents, p.EventType}, {p.HasErrors, p.ErrorType}} {
			if ok.has {
				ids = append(ids, ok.id)
			}
		}
		for _, c := range p.Constants {
			ids = append(ids, c.Type)
		}
	}
	for _, x := range append(append([]Extension(nil), md.Extrinsic.Extensions...), md.Extrinsic.AllExtensions...) {
		ids = append(ids, x.Type, x.Implicit)
	}
	for _, a := range md.APIs {
		for _, m := range a.Methods {
			ids = append(ids, m.Output)
			for _, in := range m.Inputs {
				ids = append(ids, in.Type)
			}
		}
	}
	for _, id := range ids {
		if _, err := md.Types.Type(id); err != nil {
			return err
		}
	}
	if md.Version == 14 {
		// v14 has no outer event enum: System.Events is
		// Vec<EventRecord<RuntimeEvent, Hash>>.
		if e, err := md.StorageEntry("System", "Events"); err == nil {
			if t, _ := md.Types.Type(e.ValueType); t.Kind == KindSequence {
				if rec, _ := md.Types.Type(t.Elem); rec.Kind == KindComposite {
					for _, f := range rec.Fields {
						if f.Name == "event" {
							md.EventType = f.Type
						}
					}
				}
			}
		}
	}
	return nil
}

// Pallet returns the pallet with the given name.
func (md *Metadata) Pallet(name string) (*Pallet, error) {
	i, ok := md.palletByName[name]
	if !ok {
		return nil, fmt.Errorf("%w: no pallet %q in the metadata", ErrNotFound, name)
	}
	return &md.Pallets[i], nil
}

// PalletByIndex returns the pallet with the given index.
func (md *Metadata) PalletByIndex(index uint8) (*Pallet, error) {
	for i := range md.Pallets {
		if md.Pallets[i].Index == index {
			return &md.Pallets[i], nil
		}
	}
	return nil, fmt.Errorf("%w: no pallet with index %d in the metadata", ErrNotFound, index)
}

// StorageEntry returns a storage entry of a pallet.
func (md *Metadata) StorageEntry(pallet, entry string) (*StorageEntry, error) {
	p, err := md.Pallet(pallet)
	if err != nil {
		return nil, err
	}
	return p.Entry(entry)
}

// Entry returns the pallet's storage entry with the given name.
func (p *Pallet) Entry(name string) (*StorageEntry, error) {
	i, ok := p.entryByName[name]
	if !ok {
		return nil, fmt.Errorf("%w: no storage entry %s.%s in the metadata", ErrNotFound, p.Name, name)
	}
	return &p.Storage[i], nil
}

// Constant returns a constant of a pallet.
func (md *Metadata) Constant(pallet, name string) (*Constant, error) {
	p, err := md.Pallet(pallet)
	if err != nil {
		return nil, err
	}
	for i := range p.Constants {
		if p.Constants[i].Name == name {
			return &p.Constants[i], nil
		}
	}
	return nil, fmt.Errorf("%w: no constant %s.%s in the metadata", ErrNotFound, pallet, name)
}

// RuntimeAPIMethod returns a runtime API method, e.g.
// ("NeuronInfoRuntimeApi", "get_neurons_lite").
func (md *Metadata) RuntimeAPIMethod(api, method string) (*RuntimeAPIMethod, error) {
	for i := range md.APIs {
		if md.APIs[i].Name != api {
			continue
		}
		for j := range md.APIs[i].Methods {
			if md.APIs[i].Methods[j].Name == method {
				return &md.APIs[i].Methods[j], nil
			}
		}
	}
	return nil, fmt.Errorf("%w: no runtime API %s_%s in the metadata (v%d)", ErrNotFound, api, method, md.Version)
}

// Call returns a pallet's call variant by name.
func (md *Metadata) Call(pallet, call string) (*Pallet, *Variant, error) {
	p, err := md.Pallet(pallet)
	if err != nil {
		return nil, nil, err
	}
	if !p.HasCalls {
		return nil, nil, fmt.Errorf("%w: pallet %s has no calls", ErrNotFound, pallet)
	}
	t, err := md.Types.Type(p.CallType)
	if err != nil {
		return nil, nil, err
	}
	v, ok := t.VariantByName(call)
	if !ok {
		return nil, nil, fmt.Errorf("%w: no call %s.%s in the metadata", ErrNotFound, pallet, call)
	}
	return p, v, nil
}

// HasCall reports whether the runtime has a call.
func (md *Metadata) HasCall(pallet, call string) bool {
	_, _, err := md.Call(pallet, call)
	return err == nil
}

// ExtrinsicVersion4 reports whether the runtime accepts version-4
// extrinsics, the version this package builds.
func (md *Metadata) ExtrinsicVersion4() bool {
	return bytes.IndexByte(md.Extrinsic.Versions, 4) >= 0
}
