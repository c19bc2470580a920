package client

import (
	"context"
	"fmt"
	"math/big"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor/scale"
)

// Neurons returns the subnet's neurons at block at, sorted by uid. It reads,
// at the hash of block at and with that block's runtime:
//
//   - SubnetInfoRuntimeApi_get_subnet_state where the runtime's metadata
//     types it (v15+ metadata, runtimes since early 2025): hotkeys,
//     permits, incentives, registration blocks and total_stake — the
//     stake weight Yuma uses, alpha plus TAO times the TAO weight;
//   - else storage: SubtensorModule Keys, ValidatorPermit, Incentive,
//     BlockAtRegistration, and the stake TotalHotkeyAlpha(hotkey, netuid)
//     (TotalHotkeyStake(hotkey) before dynamic TAO).
//
// A netuid that does not exist is subtensor.ErrNoSubnet; a block above the
// head subtensor.ErrFutureBlock.
func (c *Client) Neurons(ctx context.Context, netuid uint16, at bistro.Block) ([]bistro.Neuron, error) {
	hash, err := c.BlockHash(ctx, at)
	if err != nil {
		return nil, err
	}
	md, err := c.Metadata(ctx, hash)
	if err != nil {
		return nil, err
	}
	if m, ok := typedAPI(md, "SubnetInfoRuntimeApi", "get_subnet_state"); ok {
		return c.neuronsFromSubnetState(ctx, md, m, netuid, hash)
	}
	return c.neuronsFromStorage(ctx, md, netuid, hash)
}

// typedAPI returns a runtime API method whose output type the metadata
// describes: not an opaque Vec<u8>, as runtimes before early 2025 return.
func typedAPI(md *scale.Metadata, api, method string) (*scale.RuntimeAPIMethod, bool) {
	m, err := md.RuntimeAPIMethod(api, method)
	if err != nil {
		return nil, false
	}
	t, err := md.Types.Type(m.Output)
	if err != nil {
		return nil, false
	}
	if t.Kind == scale.KindSequence {
		if e, err := md.Types.Type(t.Elem); err == nil && e.Kind == scale.KindPrimitive && e.Primitive == scale.PrimU8 {
			return nil, false
		}
	}
	return m, true
}

// encodeArgs encodes a runtime API call's inputs by name.
func encodeArgs(md *scale.Metadata, m *scale.RuntimeAPIMethod, args map[string]scale.Value) ([]byte, error) {
	var b []byte
	var err error
	for _, p := range m.Inputs {
		a, ok := args[p.Name]
		if !ok {
			return nil, fmt.Errorf("subtensor/client: runtime API %s: argument %q missing", m.Name, p.Name)
		}
		if b, err = md.Types.AppendEncode(b, p.Type, a); err != nil {
			return nil, fmt.Errorf("subtensor/client: runtime API %s: %w", m.Name, err)
		}
	}
	return b, nil
}

// CallAPI calls a runtime API method by trait and name with its inputs by
// name at block hash, and decodes its output with the metadata's type.
func (c *Client) CallAPI(ctx context.Context, api, method string, args map[string]scale.Value, at bistro.Hash) (scale.Value, error) {
	md, err := c.Metadata(ctx, at)
	if err != nil {
		return nil, err
	}
	m, err := md.RuntimeAPIMethod(api, method)
	if err != nil {
		return nil, err
	}
	return c.callAPI(ctx, md, m, api, args, at)
}

func (c *Client) callAPI(ctx context.Context, md *scale.Metadata, m *scale.RuntimeAPIMethod, api string, args map[string]scale.Value, at bistro.Hash) (scale.Value, error) {
	in, err := encodeArgs(md, m, args)
	if err != nil {
		return nil, err
	}
	out, err := c.StateCall(ctx, api+"_"+m.Name, in, at)
	if err != nil {
		return nil, err
	}
	v, err := md.Types.Decode(m.Output, out)
	if err != nil {
		return nil, fmt.Errorf("subtensor/client: %s_%s result: %w", api, m.Name, err)
	}
	return v, nil
}

func (c *Client) neuronsFromSubnetState(ctx context.Context, md *scale.Metadata, m *scale.RuntimeAPIMethod, netuid uint16, at bistro.Hash) ([]bistro.Neuron, error) {
	v, err := c.callAPI(ctx, md, m, "SubnetInfoRuntimeApi", map[string]scale.Value{"netuid": netuid}, at)
	if err != nil {
		return nil, err
	}
	ns, err := DecodeSubnetState(v)
	if err == errNone {
		return nil, errNoSubnet(netuid)
	}
	return ns, err
}

// errNone is DecodeSubnetState's answer to None: no such subnet.
var errNone = fmt.Errorf("%w: get_subnet_state: None", scale.ErrNotFound)

// DecodeSubnetState reads the decoded value of
// SubnetInfoRuntimeApi_get_subnet_state (Option<SubnetState>) into neurons
// sorted by uid: hotkeys, validator permits, incentives, registration
// blocks and total_stake. None (no such subnet) is scale.ErrNotFound.
func DecodeSubnetState(v scale.Value) ([]bistro.Neuron, error) {
	opt, ok := v.(*scale.VariantValue)
	if !ok {
		return nil, decodeErr("get_subnet_state: %T, want an Option", v)
	}
	if opt.Name == "None" {
		return nil, errNone
	}
	if len(opt.Fields) != 1 {
		return nil, decodeErr("get_subnet_state: Some without a value")
	}
	st, ok := opt.Fields[0].Value.(scale.Composite)
	if !ok {
		return nil, decodeErr("get_subnet_state: %T, want SubnetState", opt.Fields[0].Value)
	}
	get := func(name string) []scale.Value {
		x, _ := st.Get(name)
		l, _ := listOf(x)
		return l
	}
	hotkeys := get("hotkeys")
	permits, incentives, regs := get("validator_permit"), get("incentives"), get("block_at_registration")
	stakes := get("total_stake")
	n := len(hotkeys)
	if len(permits) != n || len(incentives) != n || len(regs) != n || len(stakes) != n {
		return nil, decodeErr("get_subnet_state: %d hotkeys but %d permits, %d incentives, %d registrations, %d stakes",
			n, len(permits), len(incentives), len(regs), len(stakes))
	}
	out := make([]bistro.Neuron, n)
	for i := range out {
		nr := &out[i]
		nr.UID = bistro.UID(i)
		if nr.Hotkey, ok = accountID(hotkeys[i]); !ok {
			return nil, decodeErr("get_subnet_state: hotkey %d", i)
		}
		nr.ValidatorPermit, _ = permits[i].(bool)
		inc, _ := uintOf(incentives[i])
		nr.Incentive = float64(inc) / 65535
		r, _ := uintOf(regs[i])
		nr.Registered = bistro.Block(r)
		nr.Stake, _ = uintOf(stakes[i])
	}
	return out, nil
}

// NeuronLite is one neuron as NeuronInfoRuntimeApi_get_neurons_lite
// reports it. In the embedded Neuron, Stake is the sum of the stake
// entries (alpha on the subnet), and Registered stays 0: the API does not
// report it.
type NeuronLite struct {
	bistro.Neuron
	Coldkey bistro.Hotkey
	Active  bool
	// Emission is the last epoch's emission in rao; LastUpdate the block
	// of the neuron's last weights.
	Emission   uint64
	LastUpdate bistro.Block
	// Rank, Trust, Consensus, Dividends, ValidatorTrust and PruningScore
	// are in [0, 1].
	Rank, Trust, Consensus, Dividends, ValidatorTrust, PruningScore float64
}

// NeuronsLite calls NeuronInfoRuntimeApi_get_neurons_lite at block at and
// decodes it with the metadata's types; runtimes whose API returns opaque
// bytes (before early 2025) are scale.ErrNotFound.
func (c *Client) NeuronsLite(ctx context.Context, netuid uint16, at bistro.Block) ([]NeuronLite, error) {
	hash, err := c.BlockHash(ctx, at)
	if err != nil {
		return nil, err
	}
	md, err := c.Metadata(ctx, hash)
	if err != nil {
		return nil, err
	}
	m, ok := typedAPI(md, "NeuronInfoRuntimeApi", "get_neurons_lite")
	if !ok {
		return nil, fmt.Errorf("%w: NeuronInfoRuntimeApi_get_neurons_lite has no typed output in this runtime", scale.ErrNotFound)
	}
	v, err := c.callAPI(ctx, md, m, "NeuronInfoRuntimeApi", map[string]scale.Value{"netuid": netuid}, hash)
	if err != nil {
		return nil, err
	}
	return DecodeNeuronsLite(v)
}

// DecodeNeuronsLite reads the decoded value of get_neurons_lite
// (Vec<NeuronInfoLite>), sorted by uid.
func DecodeNeuronsLite(v scale.Value) ([]NeuronLite, error) {
	list, ok := listOf(v)
	if !ok {
		return nil, decodeErr("neurons: %T, want a sequence", v)
	}
	out := make([]NeuronLite, len(list))
	for i, item := range list {
		nc, ok := item.(scale.Composite)
		if !ok {
			return nil, decodeErr("neuron %d: %T", i, item)
		}
		n := &out[i]
		get := func(name string) scale.Value { x, _ := nc.Get(name); return x }
		frac := func(name string) float64 { x, _ := uintOf(get(name)); return float64(x) / 65535 }
		if n.Hotkey, ok = accountID(get("hotkey")); !ok {
			return nil, decodeErr("neuron %d: hotkey", i)
		}
		n.Coldkey, _ = accountID(get("coldkey"))
		uid, ok := uintOf(get("uid"))
		if !ok || uid > 0xffff {
			return nil, decodeErr("neuron %d: uid", i)
		}
		n.UID = bistro.UID(uid)
		n.Active, _ = get("active").(bool)
		n.ValidatorPermit, _ = get("validator_permit").(bool)
		stakes, _ := listOf(get("stake"))
		for _, s := range stakes {
			pair, _ := s.([]scale.Value)
			if len(pair) == 2 {
				x, _ := uintOf(pair[1])
				n.Stake += x
			}
		}
		n.Incentive = frac("incentive")
		n.Emission, _ = uintOf(get("emission"))
		lu, _ := uintOf(get("last_update"))
		n.LastUpdate = bistro.Block(lu)
		n.Rank, n.Trust, n.Consensus = frac("rank"), frac("trust"), frac("consensus")
		n.Dividends, n.ValidatorTrust, n.PruningScore = frac("dividends"), frac("validator_trust"), frac("pruning_score")
	}
	sortByUID(out)
	return out, nil
}

func sortByUID(ns []NeuronLite) {
	for i := 1; i < len(ns); i++ {
		for j := i; j > 0 && ns[j].UID < ns[j-1].UID; j-- {
			ns[j], ns[j-1] = ns[j-1], ns[j]
		}
	}
}

func (c *Client) neuronsFromStorage(ctx context.Context, md *scale.Metadata, netuid uint16, at bistro.Hash) ([]bistro.Neuron, error) {
	const p = scale.PalletSubtensor
	var keys [][]byte
	for _, e := range []string{"NetworksAdded", "SubnetworkN", "ValidatorPermit", "Incentive"} {
		k, err := md.StorageKey(p, e, netuid)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	vals, err := c.StorageMany(ctx, keys, at)
	if err != nil {
		return nil, err
	}
	dec := func(entry string, b []byte) (scale.Value, error) { return md.DecodeStorage(p, entry, b) }
	added, err := dec("NetworksAdded", vals[0])
	if err != nil {
		return nil, err
	}
	if ok, _ := added.(bool); !ok {
		return nil, errNoSubnet(netuid)
	}
	nv, err := dec("SubnetworkN", vals[1])
	if err != nil {
		return nil, err
	}
	n64, _ := uintOf(nv)
	n := int(n64)
	pv, err := dec("ValidatorPermit", vals[2])
	if err != nil {
		return nil, err
	}
	permits, _ := listOf(pv)
	iv, err := dec("Incentive", vals[3])
	if err != nil {
		return nil, err
	}
	incentives, _ := listOf(iv)

	keys = keys[:0]
	for uid := range n {
		for _, e := range []string{"Keys", "BlockAtRegistration"} {
			k, err := md.StorageKey(p, e, netuid, uint16(uid))
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
	}
	vals, err = c.StorageMany(ctx, keys, at)
	if err != nil {
		return nil, err
	}
	out := make([]bistro.Neuron, n)
	for uid := range n {
		nr := &out[uid]
		nr.UID = bistro.UID(uid)
		hv, err := dec("Keys", vals[2*uid])
		if err != nil {
			return nil, err
		}
		var ok bool
		if nr.Hotkey, ok = accountID(hv); !ok {
			return nil, decodeErr("Keys(%d, %d)", netuid, uid)
		}
		rv, err := dec("BlockAtRegistration", vals[2*uid+1])
		if err != nil {
			return nil, err
		}
		r, _ := uintOf(rv)
		nr.Registered = bistro.Block(r)
		if uid < len(permits) {
			nr.ValidatorPermit, _ = permits[uid].(bool)
		}
		if uid < len(incentives) {
			x, _ := uintOf(incentives[uid])
			nr.Incentive = float64(x) / 65535
		}
	}

	// Stake: the subnet's alpha under dynamic TAO, the hotkey's stake before.
	entry, withNetuid := "TotalHotkeyAlpha", true
	if _, err := md.StorageEntry(p, entry); err != nil {
		entry, withNetuid = "TotalHotkeyStake", false
	}
	keys = keys[:0]
	for _, nr := range out {
		args := []scale.Value{nr.Hotkey[:]}
		if withNetuid {
			args = append(args, netuid)
		}
		k, err := md.StorageKey(p, entry, args...)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	vals, err = c.StorageMany(ctx, keys, at)
	if err != nil {
		return nil, err
	}
	for i := range out {
		sv, err := dec(entry, vals[i])
		if err != nil {
			return nil, err
		}
		out[i].Stake, _ = uintOf(sv)
	}
	return out, nil
}

func decodeErr(format string, a ...any) error {
	return fmt.Errorf("subtensor/client: %w: %s", scale.ErrDecode, fmt.Sprintf(format, a...))
}

// accountID reads an AccountId32 value (a composite around 32 bytes).
func accountID(v scale.Value) (bistro.Hotkey, bool) {
	for range 8 {
		switch x := v.(type) {
		case []byte:
			if len(x) != 32 {
				return bistro.Hotkey{}, false
			}
			return bistro.Hotkey(x), true
		case scale.Composite:
			if len(x) != 1 {
				return bistro.Hotkey{}, false
			}
			v = x[0].Value
		default:
			return bistro.Hotkey{}, false
		}
	}
	return bistro.Hotkey{}, false
}

// listOf reads a sequence value, looking through composites of one field
// (BoundedVec, WeakBoundedVec).
func listOf(v scale.Value) ([]scale.Value, bool) {
	for range 8 {
		switch x := v.(type) {
		case []scale.Value:
			return x, true
		case scale.Composite:
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

// uintOf reads an unsigned integer value of any width.
func uintOf(v scale.Value) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case *big.Int:
		if x.IsUint64() {
			return x.Uint64(), true
		}
	case scale.Composite:
		if len(x) == 1 {
			return uintOf(x[0].Value)
		}
	}
	return 0, false
}
