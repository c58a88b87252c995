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

	"fedledger.local/zk/fixed"
)

// LogRegStep is the circuit; build it with NewLogRegStep(D, B).
type LogRegStep struct {
	StepPublic
	StepWitness // weights are D + 1, bias last
}

// NewLogRegStep allocates a circuit for D features and batches of at most B examples.
func NewLogRegStep(d, b int) *LogRegStep {
	return &LogRegStep{StepWitness: newStepWitness(d+1, d, b)}
}

// Name identifies the circuit and its sizes (keys are per name).
func LogRegName(d, b int) string { return fmt.Sprintf("logreg-d%d-b%d", d, b) }

// normBits bounds (f + 1)^2 ||g||^2 and the clipping threshold at scale 2^(6F).
const normBits = 100

func (c *LogRegStep) Define(api frontend.API) error {
	g := newGadgets(api)
	d, b := len(c.W0)-1, len(c.X)
	one := fixed.One
	if err := g.common(&c.StepPublic, &c.StepWitness); err != nil {
		return err
	}

	table := g.sigmoidTable()
	threshold := api.Mul(c.Clip, c.Clip, pow2(4*fixed.F))
	sum := zeroVars(d + 1)
	for i := 0; i < b; i++ {
		acc := api.Mul(c.W0[d], one) // bias times the constant feature 1, scale 2^(2F)
		x2 := frontend.Variable(one * one)
		for j := 0; j < d; j++ {
			acc = api.MulAcc(acc, c.W0[j], c.X[i][j])
			x2 = api.MulAcc(x2, c.X[i][j], c.X[i][j])
		}
		p := g.sigmoid(table, acc, 40)
		e := api.Mul(c.M[i], api.Sub(p, api.Mul(c.Y[i], one)))     // scale 2^F
		norm2 := api.Mul(e, e, x2)                                 // ||g_i||^2 at scale 2^(4F)
		fe := api.Mul(g.clipFactor(norm2, threshold, normBits), e) // scale 2^(2F)
		for j := 0; j < d; j++ {
			sum[j] = api.MulAcc(sum[j], fe, c.X[i][j]) // scale 2^(3F)
		}
		sum[d] = api.MulAcc(sum[d], fe, one)
	}
	g.update(c.LR, c.ExpectedBatch, c.NoiseBound, c.W0, c.W1, c.Z, sum, 3*fixed.F)
	return nil
}
