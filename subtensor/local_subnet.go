package subtensor

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/bistro-go/bistro"
)

// subnet is one subnet's state. Fields marked live hold the state including
// transactions not in a produced block yet; histories are stamped with the
// block that includes each change, so reads at a produced block ignore what
// is pending.
type subnet struct {
	opts    SubnetOptions
	created bistro.Block

	slots      []uidSlot                    // by uid; appended, never removed
	uids       map[bistro.Hotkey]bistro.UID // live
	weights    [][]weightEntry              // live, row by uid; max-upscaled
	lastUpdate []bistro.Block               // live: last weights (or registration) block

	epochs     []epochRecord // stamped with the block whose on_initialize ran them
	lastEpoch  bistro.Block
	epochIndex uint64

	commits map[bistro.Hotkey][]commitEntry
	usage   map[bistro.Hotkey]commitUsage
}

// uidSlot is the history of one uid: who held it from which block.
type uidSlot []uidEntry

type uidEntry struct {
	from   bistro.Block
	hotkey bistro.Hotkey
}

type weightEntry struct {
	uid    uint16
	weight uint16
}

type epochRecord struct {
	at        bistro.Block
	permit    []bool
	consensus []float64
	incentive []float64
	dividends []float64
	emission  []float64 // normalized incentive + dividends: the pruning score
}

type stakePoint struct {
	from   bistro.Block
	amount uint64
}

type commitEntry struct {
	at     bistro.Block
	fields [][]byte
}

type commitUsage struct {
	epoch uint64
	used  uint64
}

func newSubnet(opts SubnetOptions, created bistro.Block) *subnet {
	return &subnet{
		opts:      opts,
		created:   created,
		lastEpoch: created,
		uids:      make(map[bistro.Hotkey]bistro.UID),
		commits:   make(map[bistro.Hotkey][]commitEntry),
		usage:     make(map[bistro.Hotkey]commitUsage),
	}
}

// entryAt returns who held the slot at block at.
func (s uidSlot) entryAt(at bistro.Block) (uidEntry, bool) {
	i := sort.Search(len(s), func(i int) bool { return s[i].from > at })
	if i == 0 {
		return uidEntry{}, false
	}
	return s[i-1], true
}

// epochAt returns the last epoch run at or before block at.
func (sn *subnet) epochAt(at bistro.Block) *epochRecord {
	i := sort.Search(len(sn.epochs), func(i int) bool { return sn.epochs[i].at > at })
	if i == 0 {
		return nil
	}
	return &sn.epochs[i-1]
}

// lastRecord returns the latest epoch, pending or not.
func (sn *subnet) lastRecord() *epochRecord {
	if len(sn.epochs) == 0 {
		return nil
	}
	return &sn.epochs[len(sn.epochs)-1]
}

// epochTerms returns uid's permit, incentive and emission under epoch rec
// for the holder e. A holder that registered at or after the epoch has
// nothing from it (Subtensor clears a replaced uid's terms).
func epochTerms(rec *epochRecord, uid int, e uidEntry) (permit bool, incentive, dividends, emission float64) {
	if rec == nil || uid >= len(rec.permit) || e.from >= rec.at {
		return false, 0, 0, 0
	}
	return rec.permit[uid], rec.incentive[uid], rec.dividends[uid], rec.emission[uid]
}

// subnetLocked returns netuid's subnet. Called with mu held.
func (l *Local) subnetLocked(netuid uint16) (*subnet, error) {
	sn, ok := l.subnets[netuid]
	if !ok {
		return nil, fmt.Errorf("subtensor: netuid %d: %w", netuid, ErrNoSubnet)
	}
	return sn, nil
}

// AddSubnet creates a subnet with opts, included in the next block.
func (l *Local) AddSubnet(ctx context.Context, opts SubnetOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("subtensor: AddSubnet: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if _, dup := l.subnets[opts.Netuid]; dup {
		return fmt.Errorf("subtensor: AddSubnet: netuid %d exists", opts.Netuid)
	}
	l.subnets[opts.Netuid] = newSubnet(opts, l.head+1)
	return nil
}

// SetWeightsVersionKey sets netuid's WeightsVersionKey (a subnet owner's
// call), in force for transactions from now on.
func (l *Local) SetWeightsVersionKey(ctx context.Context, netuid uint16, key uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	sn, err := l.subnetLocked(netuid)
	if err != nil {
		return err
	}
	sn.opts.WeightsVersionKey = key
	return nil
}

// Register gives hotkey a uid on netuid, included in the next block, as
// Subtensor's burned registration does (without the burn). While the subnet
// has room the uid is the next one; when it is full the uid with the lowest
// emission of the last epoch is replaced, ties broken by the earliest
// registration and then the lowest uid, among uids past their immunity
// period while more than MinNonImmuneUIDs of those exist, else among the
// immune ones. The replaced uid loses its weights, the weights others set
// on it, its permit and its incentive.
func (l *Local) Register(ctx context.Context, netuid uint16, hotkey bistro.Hotkey) (bistro.UID, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, ErrClosed
	}
	sn, err := l.subnetLocked(netuid)
	if err != nil {
		return 0, err
	}
	if uid, ok := sn.uids[hotkey]; ok {
		return 0, fmt.Errorf("subtensor: register %s on netuid %d: holds uid %d: %w", hotkey, netuid, uid, ErrAlreadyRegistered)
	}
	now := l.head + 1
	if len(sn.slots) < int(sn.opts.MaxUIDs) {
		uid := bistro.UID(len(sn.slots))
		sn.slots = append(sn.slots, uidSlot{{from: now, hotkey: hotkey}})
		sn.weights = append(sn.weights, nil)
		sn.lastUpdate = append(sn.lastUpdate, now)
		sn.uids[hotkey] = uid
		l.log.Debug("register", "netuid", netuid, "uid", uid, "hotkey", hotkey.String(), "block", now)
		return uid, nil
	}
	uid, ok := sn.pruneCandidate(now)
	if !ok {
		return 0, fmt.Errorf("subtensor: register %s on netuid %d: %d uids, none prunable: %w", hotkey, netuid, len(sn.slots), ErrNoUIDAvailable)
	}
	old := sn.slots[uid][len(sn.slots[uid])-1].hotkey
	delete(sn.uids, old)
	sn.slots[uid] = append(sn.slots[uid], uidEntry{from: now, hotkey: hotkey})
	sn.uids[hotkey] = uid
	sn.weights[uid] = nil
	for _, row := range sn.weights {
		for k := range row {
			if row[k].uid == uint16(uid) {
				row[k].weight = 0
			}
		}
	}
	sn.lastUpdate[uid] = now
	l.log.Debug("register (prune)", "netuid", netuid, "uid", uid, "hotkey", hotkey.String(), "pruned", old.String(), "block", now)
	return uid, nil
}

// pruneCandidate is Subtensor's get_neuron_to_prune (without owner hotkeys)
// at block now.
func (sn *subnet) pruneCandidate(now bistro.Block) (bistro.UID, bool) {
	type cand struct {
		emission float64
		reg      bistro.Block
		uid      int
		ok       bool
	}
	better := func(a, b cand) bool {
		if !b.ok {
			return true
		}
		if a.emission != b.emission {
			return a.emission < b.emission
		}
		if a.reg != b.reg {
			return a.reg < b.reg
		}
		return a.uid < b.uid
	}
	rec := sn.lastRecord()
	var free int
	var bestFree, bestImmune cand
	for uid, slot := range sn.slots {
		e := slot[len(slot)-1]
		_, _, _, em := epochTerms(rec, uid, e)
		c := cand{emission: em, reg: e.from, uid: uid, ok: true}
		if uint64(now-e.from) < sn.opts.ImmunityPeriod {
			if better(c, bestImmune) {
				bestImmune = c
			}
			continue
		}
		free++
		if better(c, bestFree) {
			bestFree = c
		}
	}
	if free > int(sn.opts.MinNonImmuneUIDs) && bestFree.ok {
		return bistro.UID(bestFree.uid), true
	}
	return bistro.UID(bestImmune.uid), bestImmune.ok
}

// AddStake adds amount rao to hotkey's stake, included in the next block.
// Stake belongs to the hotkey, on every subnet it is registered on.
func (l *Local) AddStake(ctx context.Context, hotkey bistro.Hotkey, amount uint64) error {
	return l.changeStake(ctx, hotkey, func(old uint64) (uint64, error) {
		if old > math.MaxUint64-amount {
			return 0, fmt.Errorf("subtensor: add stake %d to %s: overflows %d", amount, hotkey, old)
		}
		return old + amount, nil
	})
}

// SetStake sets hotkey's stake to amount rao, included in the next block.
func (l *Local) SetStake(ctx context.Context, hotkey bistro.Hotkey, amount uint64) error {
	return l.changeStake(ctx, hotkey, func(uint64) (uint64, error) { return amount, nil })
}

func (l *Local) changeStake(ctx context.Context, hotkey bistro.Hotkey, f func(uint64) (uint64, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	h := l.stakes[hotkey]
	var old uint64
	if len(h) > 0 {
		old = h[len(h)-1].amount
	}
	amount, err := f(old)
	if err != nil {
		return err
	}
	now := l.head + 1
	if len(h) > 0 && h[len(h)-1].from == now {
		h[len(h)-1].amount = amount
	} else {
		h = append(h, stakePoint{from: now, amount: amount})
	}
	l.stakes[hotkey] = h
	return nil
}

// stakeAt returns hotkey's stake at block at. Called with mu held.
func (l *Local) stakeAt(hotkey bistro.Hotkey, at bistro.Block) uint64 {
	h := l.stakes[hotkey]
	i := sort.Search(len(h), func(i int) bool { return h[i].from > at })
	if i == 0 {
		return 0
	}
	return h[i-1].amount
}

// liveStake returns hotkey's stake including pending changes. Called with
// mu held.
func (l *Local) liveStake(hotkey bistro.Hotkey) uint64 {
	h := l.stakes[hotkey]
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].amount
}

// Neurons returns netuid's neurons as of block at (≤ the head; a later block
// is ErrFutureBlock), sorted by uid: who held each uid, its stake, and the
// permit and incentive of the last epoch at or before at.
func (l *Local) Neurons(ctx context.Context, netuid uint16, at bistro.Block) ([]bistro.Neuron, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(OpNeurons); err != nil {
		return nil, err
	}
	if at > l.head {
		return nil, fmt.Errorf("subtensor: neurons of netuid %d at block %d: head is %d: %w", netuid, at, l.head, ErrFutureBlock)
	}
	sn, err := l.subnetLocked(netuid)
	if err != nil || at < sn.created {
		return nil, fmt.Errorf("subtensor: neurons of netuid %d at block %d: %w", netuid, at, ErrNoSubnet)
	}
	rec := sn.epochAt(at)
	out := make([]bistro.Neuron, 0, len(sn.slots))
	for uid, slot := range sn.slots {
		e, ok := slot.entryAt(at)
		if !ok {
			// Uids are appended in order: none after this one existed.
			break
		}
		permit, incentive, _, _ := epochTerms(rec, uid, e)
		out = append(out, bistro.Neuron{
			UID:             bistro.UID(uid),
			Hotkey:          e.hotkey,
			Stake:           l.stakeAt(e.hotkey, at),
			ValidatorPermit: permit,
			Incentive:       incentive,
			Registered:      e.from,
		})
	}
	return out, nil
}

// Incentive returns the incentive of netuid's uids from the last epoch in a
// produced block (0 for uids registered since), or nil for no subnet.
func (l *Local) Incentive(netuid uint16) []float64 {
	in, _ := l.terms(netuid)
	return in
}

// Dividends returns the dividends of netuid's uids from the last epoch in a
// produced block (0 for uids registered since), or nil for no subnet. See
// the package doc for how they are simplified.
func (l *Local) Dividends(netuid uint16) []float64 {
	_, div := l.terms(netuid)
	return div
}

func (l *Local) terms(netuid uint16) (incentive, dividends []float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sn, ok := l.subnets[netuid]
	if !ok {
		return nil, nil
	}
	rec := sn.epochAt(l.head)
	for uid, slot := range sn.slots {
		e, ok := slot.entryAt(l.head)
		if !ok {
			break
		}
		_, in, div, _ := epochTerms(rec, uid, e)
		incentive = append(incentive, in)
		dividends = append(dividends, div)
	}
	return incentive, dividends
}

// Commit replaces signer's commitment on netuid, included in the next
// block, with Subtensor's checks: the hotkey is registered on netuid, at
// most bistro.MaxCommitmentFields fields of at most
// bistro.MaxCommitmentField bytes, and at most CommitSpace bytes per hotkey
// per epoch, a commitment counting at least 100. Subtensor has no other
// rate limit on commitments (its RateLimit was removed).
func (l *Local) Commit(ctx context.Context, signer bistro.Signer, netuid uint16, fields [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(fields) > bistro.MaxCommitmentFields {
		return fmt.Errorf("subtensor: commit on netuid %d: %d fields > %d (TooManyFieldsInCommitmentInfo): %w", netuid, len(fields), bistro.MaxCommitmentFields, ErrCommitmentLimit)
	}
	var size uint64
	for i, f := range fields {
		if len(f) > bistro.MaxCommitmentField {
			return fmt.Errorf("subtensor: commit on netuid %d: field %d has %d bytes > %d (Data::Raw): %w", netuid, i, len(f), bistro.MaxCommitmentField, ErrCommitmentLimit)
		}
		size += uint64(len(f))
	}
	if err := l.checkOrigin(signer, txMessage("commit", netuid, func(b []byte) []byte {
		for _, f := range fields {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
			b = append(b, f...)
		}
		return b
	})); err != nil {
		return err
	}
	hotkey := signer.Hotkey()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(OpCommit); err != nil {
		return err
	}
	sn, err := l.subnetLocked(netuid)
	if err != nil {
		return err
	}
	if _, ok := sn.uids[hotkey]; !ok {
		return fmt.Errorf("subtensor: commit by %s on netuid %d (AccountNotAllowedCommit): %w", hotkey, netuid, ErrNotRegistered)
	}
	need := max(size, minCommitSpaceUsed)
	u := sn.usage[hotkey]
	if u.epoch != sn.epochIndex {
		u = commitUsage{epoch: sn.epochIndex}
	}
	if u.used+need > sn.opts.CommitSpace {
		return fmt.Errorf("subtensor: commit by %s on netuid %d: %d + %d bytes > %d this epoch (SpaceLimitExceeded): %w: %w",
			hotkey, netuid, u.used, need, sn.opts.CommitSpace, ErrSpaceLimit, bistro.ErrRateLimited)
	}
	u.used += need
	sn.usage[hotkey] = u

	cp := make([][]byte, len(fields))
	for i, f := range fields {
		cp[i] = slices.Clone(f)
	}
	now := l.head + 1
	h := sn.commits[hotkey]
	// Keep the newest entry in a produced block and the pending one.
	if k := lastAtOrBefore(h, l.head); k > 0 {
		h = h[k-1:]
	}
	if len(h) > 0 && h[len(h)-1].at == now {
		h[len(h)-1].fields = cp
	} else {
		h = append(h, commitEntry{at: now, fields: cp})
	}
	sn.commits[hotkey] = h
	return nil
}

// lastAtOrBefore returns how many entries of h are at or before block at.
func lastAtOrBefore(h []commitEntry, at bistro.Block) int {
	return sort.Search(len(h), func(i int) bool { return h[i].at > at })
}

// Commitment returns hotkey's latest commitment on netuid in a produced
// block, and that block, or bistro.ErrNotFound. The fields are the caller's.
func (l *Local) Commitment(ctx context.Context, netuid uint16, hotkey bistro.Hotkey) ([][]byte, bistro.Block, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(OpCommitment); err != nil {
		return nil, 0, err
	}
	sn, err := l.subnetLocked(netuid)
	if err != nil {
		return nil, 0, err
	}
	h := sn.commits[hotkey]
	k := lastAtOrBefore(h, l.head)
	if k == 0 {
		return nil, 0, fmt.Errorf("subtensor: commitment of %s on netuid %d: %w", hotkey, netuid, bistro.ErrNotFound)
	}
	e := h[k-1]
	out := make([][]byte, len(e.fields))
	for i, f := range e.fields {
		out[i] = slices.Clone(f)
	}
	return out, e.at, nil
}

// SetWeights sets signer's weights on netuid, included in the next block,
// with Subtensor's checks in Subtensor's order: equal lengths, no more uids
// than the subnet has, a registered hotkey, a version key not below the
// subnet's, the rate limit (bistro.ErrRateLimited), a validator permit
// unless it is a single self weight, no duplicate uids, existing uids, at
// least MinAllowedWeights uids. The weights are stored max-upscaled (the
// largest becomes 65535), as Subtensor stores them.
func (l *Local) SetWeights(ctx context.Context, signer bistro.Signer, netuid uint16, uids []bistro.UID, weights []uint16, versionKey uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.checkOrigin(signer, txMessage("set_weights", netuid, func(b []byte) []byte {
		b = binary.LittleEndian.AppendUint64(b, versionKey)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(uids)))
		for _, u := range uids {
			b = binary.LittleEndian.AppendUint16(b, uint16(u))
		}
		for _, w := range weights {
			b = binary.LittleEndian.AppendUint16(b, w)
		}
		return b
	})); err != nil {
		return err
	}
	hotkey := signer.Hotkey()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.usable(OpSetWeights); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("subtensor: set_weights by %s on netuid %d: %s: %w", hotkey, netuid, fmt.Sprintf(format, args...), ErrInvalidWeights)
	}
	if len(uids) != len(weights) {
		return bad("%d uids, %d weights (WeightVecNotEqualSize)", len(uids), len(weights))
	}
	sn, err := l.subnetLocked(netuid)
	if err != nil {
		return err
	}
	n := len(sn.slots)
	if len(uids) > n {
		return bad("%d uids > subnet size %d (UidsLengthExceedUidsInSubNet)", len(uids), n)
	}
	self, ok := sn.uids[hotkey]
	if !ok {
		return fmt.Errorf("subtensor: set_weights by %s on netuid %d (HotKeyNotRegisteredInSubNet): %w", hotkey, netuid, ErrNotRegistered)
	}
	if key := sn.opts.WeightsVersionKey; key != 0 && versionKey < key {
		return fmt.Errorf("subtensor: set_weights by uid %d on netuid %d: version key %d < %d (IncorrectWeightVersionKey): %w", self, netuid, versionKey, key, ErrWeightsVersion)
	}
	now := l.head + 1
	if last := sn.lastUpdate[self]; last != 0 && uint64(now-last) < sn.opts.WeightsRateLimit {
		return fmt.Errorf("subtensor: set_weights by uid %d on netuid %d at block %d: last at block %d, rate limit %d blocks (SettingWeightsTooFast): %w",
			self, netuid, now, last, sn.opts.WeightsRateLimit, bistro.ErrRateLimited)
	}
	selfWeight := len(weights) == 1 && uids[0] == self
	if !selfWeight {
		permit, _, _, _ := epochTerms(sn.lastRecord(), int(self), sn.slots[self][len(sn.slots[self])-1])
		if !permit {
			return fmt.Errorf("subtensor: set_weights by uid %d on netuid %d (NeuronNoValidatorPermit): %w", self, netuid, ErrNoValidatorPermit)
		}
	}
	seen := make(map[bistro.UID]bool, len(uids))
	for _, u := range uids {
		if seen[u] {
			return bad("uid %d twice (DuplicateUids)", u)
		}
		seen[u] = true
	}
	for _, u := range uids {
		if int(u) >= n {
			return bad("uid %d does not exist, subnet size %d (UidVecContainInvalidOne)", u, n)
		}
	}
	if minW := min(int(sn.opts.MinAllowedWeights), n); !selfWeight && len(weights) < minW {
		return bad("%d weights < %d (WeightVecLengthIsLow)", len(weights), minW)
	}
	row := make([]weightEntry, len(uids))
	up := maxUpscale(weights)
	for i, u := range uids {
		row[i] = weightEntry{uid: uint16(u), weight: up[i]}
	}
	sn.weights[self] = row
	sn.lastUpdate[self] = now
	return nil
}

// maxUpscale scales weights so the largest is 65535, rounding, as
// Subtensor's vec_u16_max_upscale_to_u16.
func maxUpscale(w []uint16) []uint16 {
	out := make([]uint16, len(w))
	mx := uint16(0)
	for _, v := range w {
		mx = max(mx, v)
	}
	if mx == 0 {
		return out
	}
	for i, v := range w {
		out[i] = uint16(math.Round(float64(v) * math.MaxUint16 / float64(mx)))
	}
	return out
}

// txMessage is what a transaction's signer signs: a domain, the call, the
// netuid and the call's arguments.
func txMessage(call string, netuid uint16, args func([]byte) []byte) []byte {
	const domain = "bistro/subtensor/local/tx"
	b := make([]byte, 0, 128)
	b = append(b, byte(len(domain)))
	b = append(b, domain...)
	b = append(b, byte(len(call)))
	b = append(b, call...)
	b = binary.LittleEndian.AppendUint16(b, netuid)
	b = args(b)
	sum := sha256.Sum256(b)
	return sum[:]
}

// checkOrigin makes signer sign msg and verifies it under its hotkey, when
// VerifySignatures is on. It runs without the lock: signing is slow.
func (l *Local) checkOrigin(signer bistro.Signer, msg []byte) error {
	if signer == nil {
		return fmt.Errorf("subtensor: nil signer: %w", ErrBadOrigin)
	}
	if !l.verify {
		return nil
	}
	sig, err := signer.Sign(msg)
	if err != nil {
		return fmt.Errorf("subtensor: sign transaction as %s: %w", signer.Hotkey(), err)
	}
	if !bistro.Verify(signer.Hotkey(), msg, sig) {
		return fmt.Errorf("subtensor: transaction signed as %s: %w", signer.Hotkey(), ErrBadOrigin)
	}
	return nil
}
