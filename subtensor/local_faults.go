package subtensor

// Op names a Local method for FailNext.
type Op string

// The methods FailNext can fail.
const (
	OpSubscribe     Op = "Subscribe"
	OpFinalizedHash Op = "FinalizedHash"
	OpNeurons       Op = "Neurons"
	OpCommit        Op = "Commit"
	OpCommitment    Op = "Commitment"
	OpSetWeights    Op = "SetWeights"
)

// FailNext makes the next call of op return err, as an unreachable or
// failing node would; calls queue up in order. A failed transaction changes
// nothing.
func (l *Local) FailNext(op Op, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.faults[op] = append(l.faults[op], err)
}

// StallFinality stops (true) or resumes (false) finalization, as when
// GRANDPA loses its supermajority. Blocks keep coming; while stalled every
// head carries the same Finalized and FinalizedHash answers
// bistro.ErrNotFinalized for later blocks. On resume the next block
// finalizes up to its number − FinalityLag at once.
func (l *Local) StallFinality(stalled bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stalled = stalled
}

// SetFinalityLag changes the finality lag from the next block on. Finality
// never goes back: a larger lag holds it until the head catches up.
func (l *Local) SetFinalityLag(lag uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lag = lag
}

// DropStreams ends every open stream with ErrStreamDropped, as a lost
// connection to a node does; participants subscribe again. A lockstep chain
// stops waiting for the dropped streams.
func (l *Local) DropStreams() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.streams {
		l.endStream(s, ErrStreamDropped)
	}
	if l.lockstep {
		l.maybeProduce()
	}
}
