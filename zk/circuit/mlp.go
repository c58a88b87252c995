package circuit

import (
	"fmt"
	"math/big"

	"github.com/consensys/gnark/frontend"

	"fedledger.local/zk/fixed"
)

// MLPStep proves one DP-SGD step of the D-H-1 perceptron (ReLU hidden layer, sigmoid output,
// binary cross-entropy), with the same public inputs, commitments, clipping rule and noise
// treatment as LogRegStep. Weights are ordered as the agent flattens them: W1 (H x D,
// row-major), b1 (H), w2 (H), b2. In integers, for every example with m_i = 1:
//
//	a_k = W1_k . x + b1_k            (scale 2^(2F));  s_k = [a_k > 0]
//	h_k = s_k floor(a_k / 2^F)       (scale 2^F, ReLU)
//	p   = sigmoid table[clamp(floor((w2 . h + b2) / 2^16))],  e = p - y
//	g   = e (1, h, u, u x^T) with u_k = s_k w2_k   (gradients of b2, w2, b1, W1)
//	f   = the largest f in [0, 1] (2^-12 steps) with ||f g|| <= Clip
//
// and ExpectedBatch (w - w') = LR (sum_i f_i g_i + z), ||z||^2 <= NoiseBound, as for LogRegStep.
// The norm is computed as e^2 (1 + ||h||^2 + ||u||^2 (1 + ||x||^2)), exact in integers.
type MLPStep struct {
	StepPublic
	StepWitness     // weights are H D + 2 H + 1
	H           int `gnark:"-"` // hidden units
}

// MLPWeights is the parameter count of a D-H-1 perceptron.
func MLPWeights(d, h int) int { return h*d + 2*h + 1 }

// NewMLPStep allocates a circuit for D features, H hidden units and batches of at most B.
func NewMLPStep(d, h, b int) *MLPStep {
	return &MLPStep{StepWitness: newStepWitness(MLPWeights(d, h), d, b), H: h}
}

// MLPName identifies the circuit and its sizes.
func MLPName(d, h, b int) string { return fmt.Sprintf("mlp-d%d-h%d-b%d", d, h, b) }

// Bit bounds of the MLP's intermediate values (all far below the field's 254 bits), for
// |w| < 2^19, |x| < 2^15, D <= 64, H <= 32, B <= 32 (integers at their scales):
const (
	mlpPreBits   = 41  // |a_k| < 64 2^34 + 2^31
	mlpHidBits   = 29  // |floor(a_k / 2^F)| < 2^29
	mlpLogitBits = 54  // |w2 . h + b2| < 32 2^48 + 2^31
	mlpNormBits  = 140 // (f + 1)^2 e^2 (...) < 2^26 2^24 2^88
)

// layout returns the offsets of b1, w2 and b2 in the weight vector.
func mlpLayout(d, h int) (b1, w2, b2 int) { return h * d, h*d + h, h*d + 2*h }

func (c *MLPStep) Define(api frontend.API) error {
	g := newGadgets(api)
	h, b := c.H, len(c.X)
	d := len(c.X[0])
	if len(c.W0) != MLPWeights(d, h) {
		return fmt.Errorf("mlp circuit: %d weights for D=%d H=%d", len(c.W0), d, h)
	}
	ob1, ow2, ob2 := mlpLayout(d, h)
	one := fixed.One
	if err := g.common(&c.StepPublic, &c.StepWitness); err != nil {
		return err
	}

	table := g.sigmoidTable()
	threshold := api.Mul(c.Clip, c.Clip, pow2(6*fixed.F)) // f^2 ||g||^2 is at scale 2^(8F)
	sum := zeroVars(len(c.W0))                            // scale 2^(4F)
	hid, u := make([]frontend.Variable, h), make([]frontend.Variable, h)
	for i := 0; i < b; i++ {
		x2 := frontend.Variable(one * one) // 1 + ||x||^2 at scale 2^(2F)
		for j := 0; j < d; j++ {
			x2 = api.MulAcc(x2, c.X[i][j], c.X[i][j])
		}
		logit := api.Mul(c.W0[ob2], one) // scale 2^(2F)
		h2, u2 := frontend.Variable(0), frontend.Variable(0)
		for k := 0; k < h; k++ {
			a := api.Mul(c.W0[ob1+k], one)
			for j := 0; j < d; j++ {
				a = api.MulAcc(a, c.W0[k*d+j], c.X[i][j])
			}
			s := g.isLess(0, a, mlpPreBits+1)
			hid[k] = api.Mul(s, g.floorDivPow2(a, fixed.F, mlpHidBits))
			u[k] = api.Mul(s, c.W0[ow2+k])
			logit = api.MulAcc(logit, c.W0[ow2+k], hid[k])
			h2 = api.MulAcc(h2, hid[k], hid[k])
			u2 = api.MulAcc(u2, u[k], u[k])
		}
		p := g.sigmoid(table, logit, mlpLogitBits)
		e := api.Mul(c.M[i], api.Sub(p, api.Mul(c.Y[i], one))) // scale 2^F
		// ||g||^2 / e^2 at scale 2^(4F): 1 + ||h||^2 + ||u||^2 (1 + ||x||^2)
		v2 := api.Add(one*one*one*one, api.Mul(h2, one*one), api.Mul(u2, x2))
		fe := api.Mul(g.clipFactor(api.Mul(e, e, v2), threshold, mlpNormBits), e) // scale 2^(2F)
		sum[ob2] = api.MulAcc(sum[ob2], fe, one*one)
		for k := 0; k < h; k++ {
			sum[ow2+k] = api.MulAcc(sum[ow2+k], fe, api.Mul(hid[k], one))
			cu := api.Mul(fe, u[k]) // scale 2^(3F)
			sum[ob1+k] = api.MulAcc(sum[ob1+k], cu, one)
			for j := 0; j < d; j++ {
				sum[k*d+j] = api.MulAcc(sum[k*d+j], cu, c.X[i][j])
			}
		}
	}
	g.update(c.LR, c.ExpectedBatch, c.NoiseBound, c.W0, c.W1, c.Z, sum, 4*fixed.F)
	return nil
}

// AssignMLP is Assign for the D-H-1 perceptron.
func AssignMLP(in StepInput, d, h, b int) (*MLPStep, Public, error) {
	n := MLPWeights(d, h)
	p, err := prepare(in, n, d, b)
	if err != nil {
		return nil, Public{}, err
	}
	ob1, ow2, ob2 := mlpLayout(d, h)
	one := big.NewInt(fixed.One)
	one2 := big.NewInt(fixed.One * fixed.One)
	w := func(j int) *big.Int { return big.NewInt(in.WBefore[j]) }
	mul := func(a, b *big.Int) *big.Int { return new(big.Int).Mul(a, b) }
	table := fixed.SigmoidTable()
	threshold := mul(big.NewInt(in.Clip*in.Clip), pow2(6*fixed.F))
	sum := zeros(n)
	hid, u := make([]*big.Int, h), make([]*big.Int, h)
	for i := 0; i < b; i++ {
		x := make([]*big.Int, d)
		x2 := new(big.Int).Set(one2)
		for j := range x {
			x[j] = big.NewInt(p.x[i][j])
			x2.Add(x2, mul(x[j], x[j]))
		}
		logit := mul(w(ob2), one)
		h2, u2 := new(big.Int), new(big.Int)
		for k := 0; k < h; k++ {
			a := mul(w(ob1+k), one)
			for j := 0; j < d; j++ {
				a.Add(a, mul(w(k*d+j), x[j]))
			}
			if a.Sign() > 0 {
				hid[k], u[k] = floorDiv(a, one), w(ow2+k)
			} else {
				hid[k], u[k] = new(big.Int), new(big.Int)
			}
			logit.Add(logit, mul(w(ow2+k), hid[k]))
			h2.Add(h2, mul(hid[k], hid[k]))
			u2.Add(u2, mul(u[k], u[k]))
		}
		e := big.NewInt(p.m[i] * (sigmoidNative(table, logit) - p.y[i]*fixed.One))
		v2 := mul(one2, one2)
		v2.Add(v2, mul(h2, one2))
		v2.Add(v2, mul(u2, x2))
		fe := mul(ClipFactor(mul(mul(e, e), v2), threshold, one), e)
		sum[ob2].Add(sum[ob2], mul(fe, one2))
		for k := 0; k < h; k++ {
			sum[ow2+k].Add(sum[ow2+k], mul(fe, mul(hid[k], one)))
			cu := mul(fe, u[k])
			sum[ob1+k].Add(sum[ob1+k], mul(cu, one))
			for j := 0; j < d; j++ {
				sum[k*d+j].Add(sum[k*d+j], mul(cu, x[j]))
			}
		}
	}
	noise, err := deriveNoise(in, sum, 4*fixed.F, p.noiseBound)
	if err != nil {
		return nil, Public{}, err
	}
	c := NewMLPStep(d, h, b)
	pub := fill(&c.StepPublic, &c.StepWitness, in, p, noise)
	return c, pub, nil
}
