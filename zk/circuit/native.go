package circuit

import (
	"fmt"
	"math/big"

	"fedledger.local/zk/fixed"
)

// StepInput is one training step as the agent records it, already in fixed point.
type StepInput struct {
	WBefore       []int64   `json:"w_before"` // D + 1 (bias last)
	WAfter        []int64   `json:"w_after"`
	X             [][]int64 `json:"x"` // the real examples of the batch (at most B rows of D)
	Y             []int64   `json:"y"`
	Salt          string    `json:"salt"` // decimal, < r
	Step          int64     `json:"step"`
	Round         string    `json:"round"` // decimal, < r: binds study, round and participant
	LR            int64     `json:"lr"`    // scale 2^F
	Clip          int64     `json:"clip"`  // scale 2^F
	ExpectedBatch int64     `json:"expected_batch"`
	NoiseBound    string    `json:"noise_bound"` // decimal, bound on ||z||^2 at scale 2^(2F)
}

// Public is the public input vector in circuit order (decimal strings, as the verifier takes it).
type Public struct {
	WBefore, WAfter, Batch, Step, Round, LR, Clip, ExpectedBatch, NoiseBound *big.Int
}

func (p Public) List() []*big.Int {
	return []*big.Int{p.WBefore, p.WAfter, p.Batch, p.Step, p.Round, p.LR, p.Clip, p.ExpectedBatch, p.NoiseBound}
}

func parseDec(name, s string) (*big.Int, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 {
		return nil, fmt.Errorf("%s must be a non-negative decimal integer, got %q", name, s)
	}
	return v, nil
}

// floorDiv is the floor of a / d for d > 0.
func floorDiv(a, d *big.Int) *big.Int {
	q, m := new(big.Int), new(big.Int)
	q.DivMod(a, d, m)
	return q
}

// Assign checks the step against the circuit's bounds, computes what the circuit computes
// (the same integers), derives the noise z from w and w', and returns the full assignment
// for a circuit of D features and capacity B, and the public inputs.
func Assign(in StepInput, d, b int) (*LogRegStep, Public, error) {
	var pub Public
	if len(in.WBefore) != d+1 || len(in.WAfter) != d+1 {
		return nil, pub, fmt.Errorf("weights must have %d entries (D + bias)", d+1)
	}
	if len(in.X) > b || len(in.Y) != len(in.X) {
		return nil, pub, fmt.Errorf("batch has %d examples and %d labels; the circuit takes at most %d", len(in.X), len(in.Y), b)
	}
	for j := 0; j <= d; j++ {
		if err := fixed.CheckSigned("w_before", in.WBefore[j], fixed.WBits); err != nil {
			return nil, pub, err
		}
		if err := fixed.CheckSigned("w_after", in.WAfter[j], fixed.WBits); err != nil {
			return nil, pub, err
		}
	}
	x := make([][]int64, b)
	y, m := make([]int64, b), make([]int64, b)
	for i := 0; i < b; i++ {
		x[i] = make([]int64, d)
		if i < len(in.X) {
			if len(in.X[i]) != d {
				return nil, pub, fmt.Errorf("example %d has %d features, expected %d", i, len(in.X[i]), d)
			}
			for j, v := range in.X[i] {
				if err := fixed.CheckSigned("x", v, fixed.XBits); err != nil {
					return nil, pub, err
				}
				x[i][j] = v
			}
			if in.Y[i] != 0 && in.Y[i] != 1 {
				return nil, pub, fmt.Errorf("label %d is %d; labels are 0 or 1", i, in.Y[i])
			}
			y[i], m[i] = in.Y[i], 1
		}
	}
	salt, err := parseDec("salt", in.Salt)
	if err != nil {
		return nil, pub, err
	}
	round, err := parseDec("round", in.Round)
	if err != nil {
		return nil, pub, err
	}
	noiseBound, err := parseDec("noise_bound", in.NoiseBound)
	if err != nil {
		return nil, pub, err
	}
	if in.LR < 1 || in.LR > 4*fixed.One || in.Clip < 1 || in.Clip > 16*fixed.One || in.ExpectedBatch < 1 || in.ExpectedBatch >= 1024 {
		return nil, pub, fmt.Errorf("lr, clip or expected_batch out of range")
	}

	// the step, exactly as the circuit computes it
	one := big.NewInt(fixed.One)
	table := fixed.SigmoidTable()
	threshold := new(big.Int).Mul(big.NewInt(in.Clip*in.Clip), pow2(4*fixed.F))
	sum := make([]*big.Int, d+1)
	for j := range sum {
		sum[j] = new(big.Int)
	}
	for i := 0; i < b; i++ {
		acc := new(big.Int).Mul(big.NewInt(in.WBefore[d]), one)
		x2 := new(big.Int).Mul(one, one)
		for j := 0; j < d; j++ {
			acc.Add(acc, new(big.Int).Mul(big.NewInt(in.WBefore[j]), big.NewInt(x[i][j])))
			x2.Add(x2, new(big.Int).Mul(big.NewInt(x[i][j]), big.NewInt(x[i][j])))
		}
		z := floorDiv(acc, pow2(2*fixed.F-fixed.ZF)).Int64()
		z = max(-tblHalf, min(tblHalf-1, z))
		p := table[z+tblHalf]
		e := big.NewInt(m[i] * (p - y[i]*fixed.One))
		norm2 := new(big.Int).Mul(new(big.Int).Mul(e, e), x2)
		f := ClipFactor(norm2, threshold, one)
		fe := new(big.Int).Mul(f, e)
		for j := 0; j < d; j++ {
			sum[j].Add(sum[j], new(big.Int).Mul(fe, big.NewInt(x[i][j])))
		}
		sum[d].Add(sum[d], new(big.Int).Mul(fe, one))
	}
	// z_j = nearest integer to (EB (w - w') 2^(3F) - LR G_j) / (LR 2^(2F))
	noise := make([]int64, d+1)
	norm := new(big.Int)
	den := new(big.Int).Mul(big.NewInt(in.LR), pow2(2*fixed.F))
	for j := 0; j <= d; j++ {
		num := new(big.Int).Mul(big.NewInt(in.ExpectedBatch*(in.WBefore[j]-in.WAfter[j])), pow2(3*fixed.F))
		num.Sub(num, new(big.Int).Mul(big.NewInt(in.LR), sum[j]))
		zj := floorDiv(new(big.Int).Add(num, new(big.Int).Rsh(den, 1)), den)
		if !zj.IsInt64() || fixed.CheckSigned("z", zj.Int64(), fixed.ZBits) != nil {
			return nil, pub, fmt.Errorf("coordinate %d: the step's noise %s is beyond the circuit's bound", j, zj)
		}
		noise[j] = zj.Int64()
		norm.Add(norm, new(big.Int).Mul(zj, zj))
	}
	if norm.Cmp(noiseBound) > 0 {
		return nil, pub, fmt.Errorf("the step's noise has squared norm %s, above the bound %s: w_after is not a DP-SGD step from w_before on this batch", norm, noiseBound)
	}

	c := NewLogRegStep(d, b)
	for j := 0; j <= d; j++ {
		c.W0[j], c.W1[j], c.Z[j] = in.WBefore[j], in.WAfter[j], noise[j]
	}
	for i := 0; i < b; i++ {
		for j := 0; j < d; j++ {
			c.X[i][j] = x[i][j]
		}
		c.Y[i], c.M[i] = y[i], m[i]
	}
	c.Salt = salt
	pub = Public{
		WBefore: fixed.WeightsCommitment(in.WBefore), WAfter: fixed.WeightsCommitment(in.WAfter),
		Batch: fixed.BatchCommitment(round, big.NewInt(in.Step), salt, x, y, m),
		Step:  big.NewInt(in.Step), Round: round, LR: big.NewInt(in.LR), Clip: big.NewInt(in.Clip),
		ExpectedBatch: big.NewInt(in.ExpectedBatch), NoiseBound: noiseBound,
	}
	c.SetPublic(pub)
	return c, pub, nil
}

// SetPublic fills the public fields.
func (c *LogRegStep) SetPublic(p Public) {
	c.WBefore, c.WAfter, c.Batch, c.Step, c.Round = p.WBefore, p.WAfter, p.Batch, p.Step, p.Round
	c.LR, c.Clip, c.ExpectedBatch, c.NoiseBound = p.LR, p.Clip, p.ExpectedBatch, p.NoiseBound
}

// PublicFromList builds the public inputs from their circuit-order list.
func PublicFromList(v []*big.Int) (Public, error) {
	if len(v) != 9 {
		return Public{}, fmt.Errorf("a logreg step has 9 public inputs, got %d", len(v))
	}
	return Public{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]}, nil
}
