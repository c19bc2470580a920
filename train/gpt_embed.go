package train

// The embeddings and the LM head of gpt2/v1, which share wte.

// gptEmbedForward sets row i of x (n × e) to wte[in[i]] + wpe[i], n =
// len(in): token embedding plus the embedding of position i of the sequence.
func gptEmbedForward[T float](x, wte, wpe []T, in []int32, e int) {
	for i, tok := range in {
		xr, tr, pr := x[i*e:(i+1)*e], wte[int(tok)*e:(int(tok)+1)*e], wpe[i*e:(i+1)*e]
		for j := range xr {
			xr[j] = tr[j] + pr[j]
		}
	}
}

// gptEmbedBackward sets dwpe[i] = dx[i] for the n = len(in) positions used
// and zero for the others, and adds dx[i] into dwte[in[i]], i ascending (on
// top of the head's gradient, which headBackward wrote first).
func gptEmbedBackward[T float](dwte, dwpe, dx []T, in []int32, e int) {
	n := len(in)
	copy(dwpe[:n*e], dx[:n*e])
	clear(dwpe[n*e:])
	for i, tok := range in {
		d, s := dwte[int(tok)*e:(int(tok)+1)*e], dx[i*e:(i+1)*e]
		for j := range d {
			d[j] += s[j]
		}
	}
}

// headForward sets the logits lg (n × v) = xf (n × e) · wteᵀ: the LM head is
// the token embedding, tied.
func headForward[T float](mm *matmul[T], lg, xf, wte []T, n, e, v int) {
	mm.nt(lg, xf, wte, n, e, v)
}

// headBackward sets dxf = dlg · wte and dwte = dlgᵀ · xf (written, not
// added: the embedding's gradient is added after it). pwte, when not nil,
// is wte packed.
func headBackward[T float](mm *matmul[T], dxf, dwte, dlg, xf, wte []T, pwte *packedB, n, e, v int) {
	mm.nnPacked(dxf, dlg, wte, pwte, n, v, e)
	mm.tn(dwte, dlg, xf, v, n, e)
}
