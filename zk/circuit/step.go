package circuit

import (
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/hash/poseidon2"
	"github.com/consensys/gnark/std/lookup/logderivlookup"

	"fedledger.local/zk/fixed"
)

// What every training-step circuit shares: the public parameters' ranges, the private inputs'
// ranges, the three commitments, the table sigmoid, per-example clipping and the update
// relation that carries the noise. A model's circuit only adds its forward and backward pass.

const tblHalf = 1 << (fixed.TblBits - 1)

// StepPublic is every step circuit's public input, in this order (the ledger builds the same list).
type StepPublic struct {
	WBefore       frontend.Variable `gnark:",public"`
	WAfter        frontend.Variable `gnark:",public"`
	Batch         frontend.Variable `gnark:",public"`
	Step          frontend.Variable `gnark:",public"`
	Round         frontend.Variable `gnark:",public"`
	LR            frontend.Variable `gnark:",public"`
	Clip          frontend.Variable `gnark:",public"`
	ExpectedBatch frontend.Variable `gnark:",public"`
	NoiseBound    frontend.Variable `gnark:",public"`
}

// SetPublic fills the public fields.
func (c *StepPublic) SetPublic(p Public) {
	c.WBefore, c.WAfter, c.Batch, c.Step, c.Round = p.WBefore, p.WAfter, p.Batch, p.Step, p.Round
	c.LR, c.Clip, c.ExpectedBatch, c.NoiseBound = p.LR, p.Clip, p.ExpectedBatch, p.NoiseBound
}

// StepWitness is every step circuit's private input.
type StepWitness struct {
	W0   []frontend.Variable   // weights before, in the agent's parameter order
	W1   []frontend.Variable   // weights after
	X    [][]frontend.Variable // B x D features
	Y    []frontend.Variable   // labels, 0 or 1
	M    []frontend.Variable   // 1 for a real example, 0 for padding
	Salt frontend.Variable
	Z    []frontend.Variable // the noise the hospital added to the summed gradient
}

func newStepWitness(weights, d, b int) StepWitness {
	w := StepWitness{W0: make([]frontend.Variable, weights), W1: make([]frontend.Variable, weights),
		X: make([][]frontend.Variable, b), Y: make([]frontend.Variable, b), M: make([]frontend.Variable, b),
		Z: make([]frontend.Variable, weights)}
	for i := range w.X {
		w.X[i] = make([]frontend.Variable, d)
	}
	return w
}

// common enforces what every step circuit checks besides its model's pass: ranges and commitments.
func (g *gadgets) common(p *StepPublic, w *StepWitness) error {
	g.publicRanges(p.LR, p.Clip, p.ExpectedBatch, p.NoiseBound)
	g.privateRanges(w.W0, w.W1, w.Z, w.X, w.Y, w.M)
	return g.stepCommitments(p.WBefore, p.WAfter, p.Batch, p.Round, p.Step, w.Salt, w.W0, w.W1, w.X, w.Y, w.M)
}

func zeroVars(n int) []frontend.Variable {
	out := make([]frontend.Variable, n)
	for j := range out {
		out[j] = 0
	}
	return out
}

// publicRanges: 1 <= LR <= 4, 1/4096 <= Clip <= 16, 1 <= ExpectedBatch < 1024, NoiseBound < 2^62.
func (g *gadgets) publicRanges(lr, clip, expectedBatch, noiseBound frontend.Variable) {
	g.nonNegative(g.api.Sub(lr, 1), fixed.F+2)
	g.nonNegative(g.api.Sub(clip, 1), fixed.F+4)
	g.nonNegative(g.api.Sub(expectedBatch, 1), 10)
	g.nonNegative(noiseBound, 62)
}

// privateRanges bounds weights, noise, features and bits (this also makes the packing injective).
func (g *gadgets) privateRanges(w0, w1, z []frontend.Variable, x [][]frontend.Variable, y, m []frontend.Variable) {
	for j := range w0 {
		g.signedBits(w0[j], fixed.WBits)
		g.signedBits(w1[j], fixed.WBits)
		g.signedBits(z[j], fixed.ZBits)
	}
	for i := range x {
		g.api.AssertIsBoolean(y[i])
		g.api.AssertIsBoolean(m[i])
		for j := range x[i] {
			g.signedBits(x[i][j], fixed.XBits)
		}
	}
}

// stepCommitments asserts wBefore = commit(w0), wAfter = commit(w1) and
// batch = commit(round, step, salt, y, m, x), mirroring package fixed.
func (g *gadgets) stepCommitments(wBefore, wAfter, batch, round, step, salt frontend.Variable,
	w0, w1 []frontend.Variable, x [][]frontend.Variable, y, m []frontend.Variable) error {
	h, err := poseidon2.New(g.api)
	if err != nil {
		return err
	}
	h.Write(fixed.TagWeights, len(w0))
	h.Write(g.pack(w0, fixed.WBits, fixed.WPerElem)...)
	g.api.AssertIsEqual(h.Sum(), wBefore)
	h.Reset()
	h.Write(fixed.TagWeights, len(w1))
	h.Write(g.pack(w1, fixed.WBits, fixed.WPerElem)...)
	g.api.AssertIsEqual(h.Sum(), wAfter)
	h.Reset()
	h.Write(fixed.TagBatch, round, step, salt)
	h.Write(g.packBits(append(append([]frontend.Variable{}, y...), m...))...)
	var flat []frontend.Variable
	for i := range x {
		flat = append(flat, x[i]...)
	}
	h.Write(g.pack(flat, fixed.XBits, fixed.XPerElem)...)
	g.api.AssertIsEqual(h.Sum(), batch)
	return nil
}

// sigmoidTable loads the table the sigmoid looks up.
func (g *gadgets) sigmoidTable() logderivlookup.Table {
	table := logderivlookup.New(g.api)
	for _, v := range fixed.SigmoidTable() {
		table.Insert(v)
	}
	return table
}

// sigmoid of a logit at scale 2^(2F) with |logit| < 2^logitBits: the table entry of
// clamp(floor(logit / 2^(2F - ZF))), at scale 2^F.
func (g *gadgets) sigmoid(table logderivlookup.Table, logit frontend.Variable, logitBits int) frontend.Variable {
	qBits := logitBits - (2*fixed.F - fixed.ZF)
	z := g.floorDivPow2(logit, 2*fixed.F-fixed.ZF, qBits)
	lo := g.isLess(z, -tblHalf, qBits+2)
	hi := g.isLess(tblHalf-1, z, qBits+2)
	zc := g.api.Select(lo, -tblHalf, g.api.Select(hi, tblHalf-1, z))
	return table.Lookup(g.api.Add(zc, tblHalf))[0]
}

// clipFactor returns the largest f in [0, 2^F] with f^2 norm2 <= threshold (f = 2^F when the
// example's gradient is already within the clipping norm); normBits bounds (f + 1)^2 norm2.
func (g *gadgets) clipFactor(norm2, threshold frontend.Variable, normBits int) frontend.Variable {
	one := fixed.One
	out, err := g.api.Compiler().NewHint(ClipFactorHint, 1, norm2, threshold, one)
	if err != nil {
		panic(err)
	}
	f := out[0]
	g.nonNegative(f, fixed.F+1)
	g.nonNegative(g.api.Sub(one, f), fixed.F+1)
	g.nonNegative(g.api.Sub(threshold, g.api.Mul(f, f, norm2)), normBits) // clipped norm <= Clip
	f1 := g.api.Add(f, 1)
	over := g.api.Sub(g.api.Mul(f1, f1, norm2), threshold, 1)                       // f + 1 would exceed Clip ...
	g.nonNegative(g.api.Select(g.api.IsZero(g.api.Sub(f, one)), 0, over), normBits) // ... unless f = 1
	return f
}

// update asserts ExpectedBatch (w0 - w1) = LR (G + z) coordinate-wise up to rounding, where
// sum is the clipped gradient sum G at scale 2^sumScale and z is at scale 2^F, and
// ||z||^2 <= NoiseBound. The residual is only rounding:
// -LR 2^(sumScale-F-1) <= lhs - rhs < LR 2^(sumScale-F-1), so z is the nearest integer vector.
func (g *gadgets) update(lr, expectedBatch, noiseBound frontend.Variable, w0, w1, z, sum []frontend.Variable, sumScale int) {
	api := g.api
	noise := frontend.Variable(0)
	for j := range w0 {
		lhs := api.Mul(expectedBatch, api.Sub(w0[j], w1[j]), pow2(sumScale))
		rhs := api.Mul(lr, api.Add(sum[j], api.Mul(z[j], pow2(sumScale-fixed.F))))
		shifted := api.Add(api.Sub(lhs, rhs), api.Mul(lr, pow2(sumScale-fixed.F-1)))
		g.nonNegative(shifted, sumScale+3)
		g.nonNegative(api.Sub(api.Mul(lr, pow2(sumScale-fixed.F)), 1, shifted), sumScale+3)
		noise = api.MulAcc(noise, z[j], z[j])
	}
	g.nonNegative(api.Sub(noiseBound, noise), 62)
}
