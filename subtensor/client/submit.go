package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/scale"
)

// Receipt says where a submitted extrinsic was included and what it did.
type Receipt struct {
	// ExtrinsicHash is BLAKE2b-256 of the extrinsic.
	ExtrinsicHash [32]byte
	// BlockHash and BlockNumber are the block that includes it; Index its
	// position in the block.
	BlockHash   bistro.Hash
	BlockNumber bistro.Block
	Index       int
	// Events are the events the extrinsic emitted, ending with
	// System.ExtrinsicSuccess or System.ExtrinsicFailed.
	Events []scale.EventRecord
	// Finalized says whether the block was finalized when Submit returned.
	Finalized bool

	failed *DispatchError
}

// CallBuilder encodes a call with the metadata of the runtime it will be
// signed for, e.g. func(md) { return md.SetWeightsCall(…) }.
type CallBuilder func(md *scale.Metadata) ([]byte, error)

// Call returns a CallBuilder of a call by pallet and name with arguments by
// field name (scale.Metadata.EncodeCall).
func Call(pallet, call string, args map[string]scale.Value) CallBuilder {
	return func(md *scale.Metadata) ([]byte, error) { return md.EncodeCall(pallet, call, args) }
}

// Submit signs the call build encodes with signer (sr25519, the hotkey's
// account), submits it with author_submitAndWatchExtrinsic, and waits
// until a block includes it (with Options.WaitFinalized, until that block
// is finalized), at most Options.SubmitTimeout. It returns the receipt
// with the extrinsic's events; an extrinsic that failed returns the
// receipt and a *DispatchError, one the pool refused a *TxError. A lost
// connection while waiting returns ErrConnectionLost: the extrinsic may
// still be included, and is never sent again.
func (c *Client) Submit(ctx context.Context, signer bistro.Signer, build CallBuilder) (*Receipt, error) {
	if signer == nil {
		return nil, errors.New("subtensor/client: nil signer")
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.SubmitTimeout)
	defer cancel()

	lock := c.signerLock(signer.Hotkey())
	lock.Lock()
	sub, xt, name, err := c.sign(ctx, signer, build)
	lock.Unlock()
	if err != nil {
		return nil, err
	}
	defer sub.Close()
	xhash := scale.Blake2b256(xt)
	c.log.Debug("subtensor: submitted", "call", name, "hotkey", signer.Hotkey(), "extrinsic", fmt.Sprintf("%x", xhash))

	var rc *Receipt
	for {
		raw, err := sub.Next(ctx)
		if err != nil {
			if rc != nil && ctx.Err() == nil {
				// Included, but the watch ended before finality.
				if f := rc.failure(); f != nil {
					return rc, f
				}
				return rc, fmt.Errorf("subtensor/client: %s %x: included in block %d, finality not seen: %w", name, xhash, rc.BlockNumber, err)
			}
			if ctx.Err() != nil && !errors.Is(err, ErrConnectionLost) {
				return rc, fmt.Errorf("subtensor/client: %s %x: no inclusion%s within the time allowed: %w", name, xhash, finalityWord(c.opts.WaitFinalized), err)
			}
			return rc, fmt.Errorf("subtensor/client: %s %x: %w", name, xhash, err)
		}
		st, err := parseStatus(raw)
		if err != nil {
			return rc, fmt.Errorf("subtensor/client: %s: %w", name, err)
		}
		switch st.kind {
		case "inBlock", "finalized":
			if rc == nil || rc.BlockHash != st.block {
				if rc, err = c.receipt(ctx, st.block, xt); err != nil {
					return nil, fmt.Errorf("subtensor/client: %s in block %s: %w", name, st.block, err)
				}
			}
			if st.kind == "finalized" {
				rc.Finalized = true
			}
			if rc.Finalized || !c.opts.WaitFinalized {
				return rc, rc.failure()
			}
		case "retracted":
			rc = nil
		case "dropped", "usurped", "finalityTimeout":
			return rc, fmt.Errorf("%w: %s %x: %s", ErrTxDropped, name, xhash, st.kind)
		case "invalid":
			return nil, st.invalid(name)
		}
	}
}

func finalityWord(final bool) string {
	if final {
		return " and finality"
	}
	return ""
}

// failure returns the *DispatchError of a failed extrinsic, nil for a
// successful one.
func (rc *Receipt) failure() error {
	if rc.failed == nil {
		return nil
	}
	return rc.failed
}

// sign builds, signs and submits one extrinsic; the caller holds the
// signer's lock so that nonces are taken in order.
func (c *Client) sign(ctx context.Context, signer bistro.Signer, build CallBuilder) (*Subscription, []byte, string, error) {
	rt, err := c.runtime(ctx, bistro.Hash{})
	if err != nil {
		return nil, nil, "", err
	}
	md := rt.md
	call, err := build(md)
	if err != nil {
		return nil, nil, "", err
	}
	name := "extrinsic"
	if dc, err := md.DecodeCall(call); err == nil {
		name = dc.Pallet + "." + dc.Name
	}
	p := &scale.TxParams{
		SpecVersion: rt.version.SpecVersion,
		TxVersion:   rt.version.TransactionVersion,
		GenesisHash: c.genesis,
	}
	if c.opts.Mortality > 0 {
		head, err := c.BestHeader(ctx)
		if err != nil {
			return nil, nil, name, err
		}
		p.Era = scale.MortalEra(uint64(head.Number), c.opts.Mortality)
		birth := p.Era.Birth(uint64(head.Number))
		if birth == uint64(head.Number) {
			p.EraBlockHash = head.Hash
		} else if p.EraBlockHash, err = c.BlockHash(ctx, bistro.Block(birth)); err != nil {
			return nil, nil, name, err
		}
	}
	if p.Nonce, err = c.nextNonce(ctx, signer.Hotkey()); err != nil {
		return nil, nil, name, err
	}
	xt, err := md.SignExtrinsic(call, signer, p)
	if err != nil {
		return nil, nil, name, fmt.Errorf("subtensor/client: %s: %w", name, err)
	}
	sub, err := c.subscribe(ctx, "author_submitAndWatchExtrinsic", "author_unwatchExtrinsic", []any{hexString(xt)})
	if err != nil {
		var re *RPCError
		if errors.As(err, &re) && (re.Code == codeInvalidTx || re.Code == codeUnknownTx) {
			return nil, nil, name, txErrorFromText(name, re.Message+" "+re.DataString())
		}
		return nil, nil, name, fmt.Errorf("subtensor/client: submit %s: %w", name, err)
	}
	return sub, xt, name, nil
}

// nextNonce returns the account's next nonce, counting its extrinsics in
// the pool (system_accountNextIndex).
func (c *Client) nextNonce(ctx context.Context, k bistro.Hotkey) (uint64, error) {
	var n uint64
	if err := c.Call(ctx, "system_accountNextIndex", []any{k.String()}, &n); err != nil {
		return 0, err
	}
	return n, nil
}

// receipt finds xt in block hash and reads its events.
func (c *Client) receipt(ctx context.Context, hash bistro.Hash, xt []byte) (*Receipt, error) {
	blk, err := c.Block(ctx, hash)
	if err != nil {
		return nil, err
	}
	rc := &Receipt{ExtrinsicHash: scale.Blake2b256(xt), BlockHash: hash, BlockNumber: blk.Header.Number, Index: -1}
	for i, x := range blk.Extrinsics {
		if bytes.Equal(x, xt) {
			rc.Index = i
			break
		}
	}
	if rc.Index < 0 {
		return nil, fmt.Errorf("extrinsic %x is not in the block", rc.ExtrinsicHash)
	}
	md, err := c.Metadata(ctx, hash)
	if err != nil {
		return nil, err
	}
	evs, err := c.Events(ctx, hash)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		if ev.Phase != "ApplyExtrinsic" || int(ev.Extrinsic) != rc.Index {
			continue
		}
		rc.Events = append(rc.Events, ev)
	}
	for _, ev := range rc.Events {
		if ev.Pallet == "System" && ev.Name == "ExtrinsicFailed" {
			rc.failed = dispatchError(md, ev.Fields)
			rc.failed.Receipt = rc
		}
	}
	return rc, nil
}

// txStatus is one author_extrinsicUpdate notification.
type txStatus struct {
	kind  string
	block bistro.Hash
	// detail is the inner object of a chopsticks "invalid" / "unknown"
	// validity error.
	detail json.RawMessage
}

func parseStatus(raw json.RawMessage) (*txStatus, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return &txStatus{kind: s}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || len(m) == 0 {
		return nil, fmt.Errorf("extrinsic status %.200s", raw)
	}
	for k, v := range m {
		switch k {
		case "inBlock", "finalized", "retracted", "usurped", "finalityTimeout":
			var h string
			if err := json.Unmarshal(v, &h); err != nil {
				return nil, fmt.Errorf("extrinsic status %.200s", raw)
			}
			b, err := parseHash(h)
			if err != nil {
				return nil, err
			}
			return &txStatus{kind: k, block: b}, nil
		case "invalid", "unknown":
			// chopsticks: the validity error of apply_extrinsic.
			return &txStatus{kind: "invalid", detail: v}, nil
		default:
			return &txStatus{kind: k}, nil
		}
	}
	return nil, fmt.Errorf("extrinsic status %.200s", raw)
}

func (st *txStatus) invalid(call string) error {
	if len(st.detail) == 0 {
		return &TxError{Call: call, Kind: "unknown", Message: "invalid"}
	}
	return txErrorFromText(call, string(st.detail))
}

// dispatchError reads the dispatch_error field of System.ExtrinsicFailed.
func dispatchError(md *scale.Metadata, fields scale.Composite) *DispatchError {
	v, ok := fields.Get("dispatch_error")
	if !ok && len(fields) > 0 {
		v = fields[0].Value
	}
	de := &DispatchError{Name: "Unknown"}
	dv, ok := v.(*scale.VariantValue)
	if !ok {
		return de
	}
	de.Name = dv.Name
	if dv.Name != "Module" {
		if len(dv.Fields) == 1 {
			if inner, ok := dv.Fields[0].Value.(*scale.VariantValue); ok {
				de.Name = dv.Name + "." + inner.Name
			}
		}
		return de
	}
	if len(dv.Fields) != 1 {
		return de
	}
	me, ok := dv.Fields[0].Value.(scale.Composite)
	if !ok {
		return de
	}
	iv, _ := me.Get("index")
	idx, ok := iv.(uint8)
	if !ok {
		return de
	}
	ev, _ := me.Get("error")
	var code uint8
	switch e := ev.(type) {
	case []byte:
		if len(e) > 0 {
			code = e[0]
		}
	case uint8:
		code = e
	}
	de.Module = fmt.Sprintf("pallet %d", idx)
	de.Name = fmt.Sprintf("error %d", code)
	p, err := md.PalletByIndex(idx)
	if err != nil {
		return de
	}
	de.Module = p.Name
	if !p.HasErrors {
		return de
	}
	t, err := md.Types.Type(p.ErrorType)
	if err != nil {
		return de
	}
	if v, ok := t.VariantByIndex(code); ok {
		de.Name = v.Name
		de.Docs = strings.TrimSpace(strings.Join(v.Docs, " "))
	}
	return de
}
