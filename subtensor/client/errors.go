package client

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/bistro-go/bistro"
	"github.com/bistro-go/bistro/subtensor"
)

// Errors of the client beyond those subtensor shares with Local. The
// chain's own refusals are returned as *DispatchError or *TxError, which
// wrap the matching sentinel of subtensor, bistro or this package, so
// callers match with errors.Is whatever the runtime version calls them.
var (
	// ErrInsufficientBalance: the signer cannot pay the fee or a deposit
	// (InvalidTransaction::Payment, Token(FundsUnavailable),
	// Balances.InsufficientBalance).
	ErrInsufficientBalance = errors.New("subtensor/client: balance too low for the transaction")

	// ErrNotEnoughStake: the hotkey's stake is below the subnet's minimum
	// for weights (NotEnoughStakeToSetWeights).
	ErrNotEnoughStake = errors.New("subtensor/client: stake below the minimum to set weights")

	// ErrCommitRevealEnabled: set_weights on a subnet with hash-based
	// commit-reveal on; use CommitWeights and RevealWeights
	// (CommitRevealEnabled).
	ErrCommitRevealEnabled = errors.New("subtensor/client: the subnet has commit-reveal on: use CommitWeights and RevealWeights")

	// ErrCommitRevealDisabled: commit_weights or reveal_weights on a subnet
	// with commit-reveal off; use SetWeights (CommitRevealDisabled).
	ErrCommitRevealDisabled = errors.New("subtensor/client: the subnet has commit-reveal off: use SetWeights")

	// ErrReveal: a reveal the chain refuses (NoWeightsCommitFound,
	// InvalidRevealCommitHashNotMatch, RevealTooEarly,
	// ExpiredWeightCommit, TooManyUnrevealedCommits).
	ErrReveal = errors.New("subtensor/client: weights commit or reveal refused")

	// ErrTxRejected: the transaction pool refused the extrinsic for a
	// reason with no sentinel of its own (see TxError).
	ErrTxRejected = errors.New("subtensor/client: transaction rejected")

	// ErrTxDropped: the extrinsic left the pool without being included
	// (dropped, usurped by another with the same nonce, or its block's
	// finality timed out).
	ErrTxDropped = errors.New("subtensor/client: transaction dropped")

	// ErrStaleNonce: the nonce was already used (InvalidTransaction::Stale).
	ErrStaleNonce = errors.New("subtensor/client: nonce already used")
)

// moduleErrors maps the dispatch errors bistro callers act on, by pallet and
// name, to sentinels. Names are stable across runtime versions; indices
// are not, so they are resolved through the metadata.
var moduleErrors = map[string]map[string][]error{
	"SubtensorModule": {
		"SettingWeightsTooFast":           {bistro.ErrRateLimited},
		"CommittingWeightsTooFast":        {bistro.ErrRateLimited},
		"TxRateLimitExceeded":             {bistro.ErrRateLimited},
		"ServingRateLimitExceeded":        {bistro.ErrRateLimited},
		"HotKeyNotRegisteredInSubNet":     {subtensor.ErrNotRegistered},
		"HotKeyNotRegisteredInNetwork":    {subtensor.ErrNotRegistered},
		"HotKeyAccountNotExists":          {subtensor.ErrNotRegistered},
		"HotKeyAlreadyRegisteredInSubNet": {subtensor.ErrAlreadyRegistered},
		"NoNeuronIdAvailable":             {subtensor.ErrNoUIDAvailable},
		"NeuronNoValidatorPermit":         {subtensor.ErrNoValidatorPermit},
		"SubNetworkDoesNotExist":          {subtensor.ErrNoSubnet},
		"SubnetNotExists":                 {subtensor.ErrNoSubnet},
		"MechanismDoesNotExist":           {subtensor.ErrNoSubnet},
		"IncorrectWeightVersionKey":       {subtensor.ErrWeightsVersion},
		"WeightVecNotEqualSize":           {subtensor.ErrInvalidWeights},
		"DuplicateUids":                   {subtensor.ErrInvalidWeights},
		"UidVecContainInvalidOne":         {subtensor.ErrInvalidWeights},
		"WeightVecLengthIsLow":            {subtensor.ErrInvalidWeights},
		"UidsLengthExceedUidsInSubNet":    {subtensor.ErrInvalidWeights},
		"MaxWeightExceeded":               {subtensor.ErrInvalidWeights},
		"InputLengthsUnequal":             {subtensor.ErrInvalidWeights},
		"NotEnoughStakeToSetWeights":      {ErrNotEnoughStake},
		"CommitRevealEnabled":             {ErrCommitRevealEnabled},
		"CommitRevealDisabled":            {ErrCommitRevealDisabled},
		"NoWeightsCommitFound":            {ErrReveal},
		"InvalidRevealCommitHashNotMatch": {ErrReveal},
		"RevealTooEarly":                  {ErrReveal},
		"ExpiredWeightCommit":             {ErrReveal},
		"TooManyUnrevealedCommits":        {ErrReveal},
		"NotEnoughBalanceToStake":         {ErrInsufficientBalance},
	},
	"Commitments": {
		"TooManyFieldsInCommitmentInfo":  {subtensor.ErrCommitmentLimit},
		"AccountNotAllowedCommit":        {subtensor.ErrNotRegistered},
		"CommitmentSetRateLimitExceeded": {bistro.ErrRateLimited},
		"SpaceLimitExceeded":             {subtensor.ErrSpaceLimit, bistro.ErrRateLimited},
	},
	"Balances": {
		"InsufficientBalance": {ErrInsufficientBalance},
	},
}

// DispatchError is an extrinsic that was included but failed
// (System.ExtrinsicFailed): Module and Name say why, as the metadata names
// it ("SubtensorModule", "SettingWeightsTooFast"); a non-module error has
// Module "" and Name such as "BadOrigin" or "Token.FundsUnavailable". It
// wraps the sentinel that stands for it, when there is one.
type DispatchError struct {
	Module, Name string
	// Docs is the error's documentation from the metadata.
	Docs string
	// Receipt is where the extrinsic was included.
	Receipt *Receipt
}

func (e *DispatchError) Error() string {
	what := e.Name
	if e.Module != "" {
		what = e.Module + "." + e.Name
	}
	s := "subtensor/client: extrinsic failed: " + what
	if e.Docs != "" {
		s += " (" + e.Docs + ")"
	}
	if e.Receipt != nil {
		s += fmt.Sprintf(" in block %d", e.Receipt.BlockNumber)
	}
	return s
}

// Unwrap returns the sentinels e stands for.
func (e *DispatchError) Unwrap() []error {
	if e.Module == "" {
		if strings.HasPrefix(e.Name, "Token.") && strings.Contains(e.Name, "Funds") {
			return []error{ErrInsufficientBalance}
		}
		if e.Name == "BadOrigin" {
			return []error{subtensor.ErrBadOrigin}
		}
		return nil
	}
	return moduleErrors[e.Module][e.Name]
}

// TxError is an extrinsic the transaction pool refused before inclusion
// (JSON-RPC errors 1010 and 1011, or an invalid status): Kind is the
// validity error ("payment", "badProof", "stale", "custom", "future",
// "call", "unknown" …), Custom the code of a custom one, Message the
// node's words. It wraps a sentinel where one fits.
type TxError struct {
	Kind    string
	Custom  int
	Message string
	// Call is the pallet and call name, for the message.
	Call string
}

func (e *TxError) Error() string {
	s := "subtensor/client: " + e.Call + " refused by the transaction pool: " + e.Kind
	if e.Kind == "custom" {
		s += " " + strconv.Itoa(e.Custom)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns the sentinel e stands for.
func (e *TxError) Unwrap() error {
	switch e.Kind {
	case "payment":
		return ErrInsufficientBalance
	case "badProof":
		return subtensor.ErrBadOrigin
	case "stale":
		return ErrStaleNonce
	}
	return ErrTxRejected
}

// txErrorFromText classifies a pool refusal from the node's message, as
// Substrate words InvalidTransaction and UnknownTransaction (its JSON-RPC
// data; chopsticks sends the validity error as JSON in the message).
func txErrorFromText(call, msg string) *TxError {
	e := &TxError{Call: call, Message: msg, Kind: "unknown"}
	l := strings.ToLower(msg)
	switch {
	case strings.Contains(l, "payment") || strings.Contains(l, "inability to pay"):
		e.Kind = "payment"
	case strings.Contains(l, "bad signature") || strings.Contains(l, "badproof"):
		e.Kind = "badProof"
	case strings.Contains(l, "outdated") || strings.Contains(l, "stale"):
		e.Kind = "stale"
	case strings.Contains(l, "ancient birth") || strings.Contains(l, "ancientbirthblock"):
		e.Kind = "ancientBirthBlock"
	case strings.Contains(l, "valid in the future") || strings.Contains(l, "future"):
		e.Kind = "future"
	case strings.Contains(l, "custom"):
		e.Kind = "custom"
		e.Custom, _ = customCode(l)
	case strings.Contains(l, "unreachable") || strings.Contains(l, "panicked"):
		e.Kind = "panic"
	case strings.Contains(l, "exhaust") || strings.Contains(l, "exhausts"):
		e.Kind = "exhaustsResources"
	case strings.Contains(l, "call"):
		e.Kind = "call"
	}
	return e
}

// customCode finds the number after "custom" in texts such as "Custom
// error: 3" and {"invalid":{"custom":3}}.
func customCode(l string) (int, bool) {
	i := strings.Index(l, "custom")
	if i < 0 {
		return 0, false
	}
	rest := l[i+len("custom"):]
	j := strings.IndexAny(rest, "0123456789")
	if j < 0 {
		return 0, false
	}
	k := j
	for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
		k++
	}
	n, err := strconv.Atoi(rest[j:k])
	return n, err == nil
}
