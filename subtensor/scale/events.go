package scale

import (
	"fmt"
)

// EventRecord is one event of a block, as System.Events stores it.
type EventRecord struct {
	// Phase is "ApplyExtrinsic" (then Extrinsic is the index of the
	// extrinsic that emitted it), "Finalization" or "Initialization".
	Phase     string
	Extrinsic uint32
	// Pallet and Name name the event; Fields are its data.
	Pallet string
	Name   string
	Fields Composite
	Topics [][32]byte
}

// DecodeEvents decodes the value of the System.Events storage entry at a
// block, with the record type the metadata gives that entry.
func (md *Metadata) DecodeEvents(b []byte) ([]EventRecord, error) {
	v, err := md.DecodeStorage("System", "Events", b)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]Value)
	if !ok {
		return nil, decodeErr("System.Events is not a sequence of records")
	}
	out := make([]EventRecord, len(list))
	for i, item := range list {
		rec, ok := item.(Composite)
		if !ok {
			return nil, decodeErr("event %d is not a record", i)
		}
		if err := out[i].fill(rec); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	return out, nil
}

func (e *EventRecord) fill(rec Composite) error {
	phase, _ := rec.Get("phase")
	pv, ok := phase.(*VariantValue)
	if !ok {
		return decodeErr("record without a phase")
	}
	e.Phase = pv.Name
	if pv.Name == "ApplyExtrinsic" && len(pv.Fields) == 1 {
		e.Extrinsic, _ = pv.Fields[0].Value.(uint32)
	}
	ev, _ := rec.Get("event")
	outer, ok := ev.(*VariantValue)
	if !ok || len(outer.Fields) != 1 {
		return decodeErr("record without an event")
	}
	inner, ok := outer.Fields[0].Value.(*VariantValue)
	if !ok {
		return decodeErr("event of %s is not an enum", outer.Name)
	}
	e.Pallet, e.Name, e.Fields = outer.Name, inner.Name, inner.Fields
	topics, _ := rec.Get("topics")
	list, _ := topics.([]Value)
	for _, t := range list {
		b, ok := firstBytes(t)
		if !ok || len(b) != 32 {
			return decodeErr("topic is not a 32-byte hash")
		}
		e.Topics = append(e.Topics, [32]byte(b))
	}
	return nil
}
