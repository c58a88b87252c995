// Package circuit holds the training-step circuits (Groth16 over BN254).
//
// LogRegStep proves one DP-SGD step of logistic regression (D features plus a bias, a batch of
// up to B examples) in the fixed-point format of package fixed:
//
//	public:  WBefore = commit(w), WAfter = commit(w'), Batch = commit(round, step, salt, x, y, m),
//	         Step, Round, LR, Clip, ExpectedBatch, NoiseBound
//	private: w, w', x (B x D), y, m (batch membership), salt, z (noise)
//
// and the circuit enforces, in integers:
//
//	for every example i with m_i = 1:  p_i = sigmoid table[clamp(floor(w.x_i / 2^16))],
//	  e_i = p_i - y_i, g_i = e_i * (x_i, 1), f_i = the largest f in [0, 1] (2^-12 steps) with
//	  ||f_i g_i|| <= Clip (per-example clipping; f_i = 1 whenever ||g_i|| <= Clip);
//	G = sum_i f_i g_i;  ExpectedBatch * (w - w') = LR * (G + z) with z the nearest integer
//	  vector (a rounding residual of at most half a unit of z);  ||z||^2 <= NoiseBound.
//
// What is not proven: that z was drawn from the Gaussian the hospital claims (only its norm is
// bounded), and how the batch was sampled (only that it is the committed one).
package circuit

import (
	"fmt"

	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/hash/poseidon2"
	"github.com/consensys/gnark/std/lookup/logderivlookup"

	"fedledger.local/zk/fixed"
)

// LogRegStep is the circuit; build it with NewLogRegStep(D, B).
type LogRegStep struct {
	WBefore       frontend.Variable `gnark:",public"`
	WAfter        frontend.Variable `gnark:",public"`
	Batch         frontend.Variable `gnark:",public"`
	Step          frontend.Variable `gnark:",public"`
	Round         frontend.Variable `gnark:",public"`
	LR            frontend.Variable `gnark:",public"`
	Clip          frontend.Variable `gnark:",public"`
	ExpectedBatch frontend.Variable `gnark:",public"`
	NoiseBound    frontend.Variable `gnark:",public"`

	W0   []frontend.Variable   // weights before (D + 1, bias last)
	W1   []frontend.Variable   // weights after
	X    [][]frontend.Variable // B x D features
	Y    []frontend.Variable   // labels, 0 or 1
	M    []frontend.Variable   // 1 for a real example, 0 for padding
	Salt frontend.Variable
	Z    []frontend.Variable // the noise the hospital added to the summed gradient (D + 1)
}

// NewLogRegStep allocates a circuit for D features and batches of at most B examples.
func NewLogRegStep(d, b int) *LogRegStep {
	c := &LogRegStep{W0: make([]frontend.Variable, d+1), W1: make([]frontend.Variable, d+1),
		X: make([][]frontend.Variable, b), Y: make([]frontend.Variable, b), M: make([]frontend.Variable, b),
		Z: make([]frontend.Variable, d+1)}
	for i := range c.X {
		c.X[i] = make([]frontend.Variable, d)
	}
	return c
}

// Name identifies the circuit and its sizes (keys are per name).
func LogRegName(d, b int) string { return fmt.Sprintf("logreg-d%d-b%d", d, b) }

const (
	normBits = 100 // bound on f^2 * ||g||^2 and the clipping threshold at scale 2^(6F)
	tblHalf  = 1 << (fixed.TblBits - 1)
)

func (c *LogRegStep) Define(api frontend.API) error {
	g := newGadgets(api)
	d, b := len(c.W0)-1, len(c.X)
	one := fixed.One

	// public parameters in range: 1 <= LR <= 4, 1/4096 <= Clip <= 16, 1 <= ExpectedBatch < 1024
	g.nonNegative(api.Sub(c.LR, 1), fixed.F+2)
	g.nonNegative(api.Sub(c.Clip, 1), fixed.F+4)
	g.nonNegative(api.Sub(c.ExpectedBatch, 1), 10)
	g.nonNegative(c.NoiseBound, 62)

	// private inputs in range (this also makes the packing below injective)
	for j := 0; j <= d; j++ {
		g.signedBits(c.W0[j], fixed.WBits)
		g.signedBits(c.W1[j], fixed.WBits)
		g.signedBits(c.Z[j], fixed.ZBits)
	}
	for i := 0; i < b; i++ {
		api.AssertIsBoolean(c.Y[i])
		api.AssertIsBoolean(c.M[i])
		for j := 0; j < d; j++ {
			g.signedBits(c.X[i][j], fixed.XBits)
		}
	}

	// commitments
	h, err := poseidon2.New(api)
	if err != nil {
		return err
	}
	h.Write(fixed.TagWeights, d+1)
	h.Write(g.pack(c.W0, fixed.WBits, fixed.WPerElem)...)
	api.AssertIsEqual(h.Sum(), c.WBefore)
	h.Reset()
	h.Write(fixed.TagWeights, d+1)
	h.Write(g.pack(c.W1, fixed.WBits, fixed.WPerElem)...)
	api.AssertIsEqual(h.Sum(), c.WAfter)
	h.Reset()
	h.Write(fixed.TagBatch, c.Round, c.Step, c.Salt)
	h.Write(g.packBits(append(append([]frontend.Variable{}, c.Y...), c.M...))...)
	var flat []frontend.Variable
	for i := 0; i < b; i++ {
		flat = append(flat, c.X[i]...)
	}
	h.Write(g.pack(flat, fixed.XBits, fixed.XPerElem)...)
	api.AssertIsEqual(h.Sum(), c.Batch)

	// the step
	table := logderivlookup.New(api)
	for _, v := range fixed.SigmoidTable() {
		table.Insert(v)
	}
	threshold := api.Mul(c.Clip, c.Clip, pow2(4*fixed.F))
	sum := make([]frontend.Variable, d+1)
	for j := range sum {
		sum[j] = 0
	}
	for i := 0; i < b; i++ {
		acc := api.Mul(c.W0[d], one) // bias times the constant feature 1, scale 2^(2F)
		x2 := frontend.Variable(one * one)
		for j := 0; j < d; j++ {
			acc = api.MulAcc(acc, c.W0[j], c.X[i][j])
			x2 = api.MulAcc(x2, c.X[i][j], c.X[i][j])
		}
		z := g.floorDivPow2(acc, 2*fixed.F-fixed.ZF, 24)
		lo := g.isLess(z, -tblHalf, 26)
		hi := g.isLess(tblHalf-1, z, 26)
		zc := api.Select(lo, -tblHalf, api.Select(hi, tblHalf-1, z))
		p := table.Lookup(api.Add(zc, tblHalf))[0]
		e := api.Mul(c.M[i], api.Sub(p, api.Mul(c.Y[i], one))) // scale 2^F
		norm2 := api.Mul(e, e, x2)                             // ||g_i||^2 at scale 2^(4F)
		out, err := api.Compiler().NewHint(ClipFactorHint, 1, norm2, threshold, one)
		if err != nil {
			return err
		}
		f := out[0]
		g.nonNegative(f, fixed.F+1)
		g.nonNegative(api.Sub(one, f), fixed.F+1)
		g.nonNegative(api.Sub(threshold, api.Mul(f, f, norm2)), normBits) // clipped norm <= Clip
		f1 := api.Add(f, 1)
		over := api.Sub(api.Mul(f1, f1, norm2), threshold, 1)                     // f + 1 would exceed Clip ...
		g.nonNegative(api.Select(api.IsZero(api.Sub(f, one)), 0, over), normBits) // ... unless f = 1
		fe := api.Mul(f, e)                                                       // scale 2^(2F)
		for j := 0; j < d; j++ {
			sum[j] = api.MulAcc(sum[j], fe, c.X[i][j]) // scale 2^(3F)
		}
		sum[d] = api.MulAcc(sum[d], fe, one)
	}

	// the update and the noise it carries
	noise := frontend.Variable(0)
	for j := 0; j <= d; j++ {
		lhs := api.Mul(c.ExpectedBatch, api.Sub(c.W0[j], c.W1[j]), pow2(3*fixed.F))
		rhs := api.Mul(c.LR, api.Add(sum[j], api.Mul(c.Z[j], pow2(2*fixed.F))))
		// the residual is only rounding: -LR 2^(2F-1) <= lhs - rhs < LR 2^(2F-1), so z is the
		// nearest integer and nothing else
		shifted := api.Add(api.Sub(lhs, rhs), api.Mul(c.LR, pow2(2*fixed.F-1)))
		g.nonNegative(shifted, 3*fixed.F+3)
		g.nonNegative(api.Sub(api.Mul(c.LR, pow2(2*fixed.F)), 1, shifted), 3*fixed.F+3)
		noise = api.MulAcc(noise, c.Z[j], c.Z[j])
	}
	g.nonNegative(api.Sub(c.NoiseBound, noise), 62)
	return nil
}
