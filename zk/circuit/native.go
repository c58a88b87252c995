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

// prepared is a step's input checked and padded to the circuit's batch capacity.
type prepared struct {
	x                       [][]int64 // B rows of D (padding rows are zero)
	y, m                    []int64
	salt, round, noiseBound *big.Int
}

// prepare checks what every step circuit bounds (weight count nw, D features, capacity B) and
// pads the batch.
func prepare(in StepInput, nw, d, b int) (prepared, error) {
	var p prepared
	if len(in.WBefore) != nw || len(in.WAfter) != nw {
		return p, fmt.Errorf("weights must have %d entries, got %d and %d", nw, len(in.WBefore), len(in.WAfter))
	}
	if len(in.X) > b || len(in.Y) != len(in.X) {
		return p, fmt.Errorf("batch has %d examples and %d labels; the circuit takes at most %d", len(in.X), len(in.Y), b)
	}
	for j := 0; j < nw; j++ {
		if err := fixed.CheckSigned("w_before", in.WBefore[j], fixed.WBits); err != nil {
			return p, err
		}
		if err := fixed.CheckSigned("w_after", in.WAfter[j], fixed.WBits); err != nil {
			return p, err
		}
	}
	p.x, p.y, p.m = make([][]int64, b), make([]int64, b), make([]int64, b)
	for i := 0; i < b; i++ {
		p.x[i] = make([]int64, d)
		if i < len(in.X) {
			if len(in.X[i]) != d {
				return p, fmt.Errorf("example %d has %d features, expected %d", i, len(in.X[i]), d)
			}
			for j, v := range in.X[i] {
				if err := fixed.CheckSigned("x", v, fixed.XBits); err != nil {
					return p, err
				}
				p.x[i][j] = v
			}
			if in.Y[i] != 0 && in.Y[i] != 1 {
				return p, fmt.Errorf("label %d is %d; labels are 0 or 1", i, in.Y[i])
			}
			p.y[i], p.m[i] = in.Y[i], 1
		}
	}
	var err error
	if p.salt, err = parseDec("salt", in.Salt); err != nil {
		return p, err
	}
	if p.round, err = parseDec("round", in.Round); err != nil {
		return p, err
	}
	if p.noiseBound, err = parseDec("noise_bound", in.NoiseBound); err != nil {
		return p, err
	}
	if in.LR < 1 || in.LR > 4*fixed.One || in.Clip < 1 || in.Clip > 16*fixed.One || in.ExpectedBatch < 1 || in.ExpectedBatch >= 1024 {
		return p, fmt.Errorf("lr, clip or expected_batch out of range")
	}
	return p, nil
}

// fill assigns a checked step, its derived noise and its public inputs (returned).
func fill(c *StepPublic, w *StepWitness, in StepInput, p prepared, noise []int64) Public {
	for j := range w.W0 {
		w.W0[j], w.W1[j], w.Z[j] = in.WBefore[j], in.WAfter[j], noise[j]
	}
	for i := range w.X {
		for j := range w.X[i] {
			w.X[i][j] = p.x[i][j]
		}
		w.Y[i], w.M[i] = p.y[i], p.m[i]
	}
	w.Salt = p.salt
	pub := p.public(in)
	c.SetPublic(pub)
	return pub
}

// public is the step's public input vector.
func (p prepared) public(in StepInput) Public {
	return Public{
		WBefore: fixed.WeightsCommitment(in.WBefore), WAfter: fixed.WeightsCommitment(in.WAfter),
		Batch: fixed.BatchCommitment(p.round, big.NewInt(in.Step), p.salt, p.x, p.y, p.m),
		Step:  big.NewInt(in.Step), Round: p.round, LR: big.NewInt(in.LR), Clip: big.NewInt(in.Clip),
		ExpectedBatch: big.NewInt(in.ExpectedBatch), NoiseBound: p.noiseBound,
	}
}

// sigmoidNative mirrors gadgets.sigmoid for a logit at scale 2^(2F).
func sigmoidNative(table []int64, logit *big.Int) int64 {
	z := floorDiv(logit, pow2(2*fixed.F-fixed.ZF))
	lo, hi := big.NewInt(-tblHalf), big.NewInt(tblHalf-1)
	if z.Cmp(lo) < 0 {
		z = lo
	} else if z.Cmp(hi) > 0 {
		z = hi
	}
	return table[z.Int64()+tblHalf]
}

// deriveNoise mirrors gadgets.update: z_j = nearest integer to
// (EB (w - w') 2^S - LR G_j) / (LR 2^(S-F)) for the clipped gradient sum G at scale 2^S,
// refusing a step whose noise leaves the circuit's bounds.
func deriveNoise(in StepInput, sum []*big.Int, sumScale int, noiseBound *big.Int) ([]int64, error) {
	noise := make([]int64, len(sum))
	norm := new(big.Int)
	den := new(big.Int).Mul(big.NewInt(in.LR), pow2(sumScale-fixed.F))
	for j := range sum {
		num := new(big.Int).Mul(big.NewInt(in.ExpectedBatch*(in.WBefore[j]-in.WAfter[j])), pow2(sumScale))
		num.Sub(num, new(big.Int).Mul(big.NewInt(in.LR), sum[j]))
		zj := floorDiv(new(big.Int).Add(num, new(big.Int).Rsh(den, 1)), den)
		if !zj.IsInt64() || fixed.CheckSigned("z", zj.Int64(), fixed.ZBits) != nil {
			return nil, fmt.Errorf("coordinate %d: the step's noise %s is beyond the circuit's bound", j, zj)
		}
		noise[j] = zj.Int64()
		norm.Add(norm, new(big.Int).Mul(zj, zj))
	}
	if norm.Cmp(noiseBound) > 0 {
		return nil, fmt.Errorf("the step's noise has squared norm %s, above the bound %s: w_after is not a DP-SGD step from w_before on this batch", norm, noiseBound)
	}
	return noise, nil
}

func zeros(n int) []*big.Int {
	out := make([]*big.Int, n)
	for j := range out {
		out[j] = new(big.Int)
	}
	return out
}

// Assign checks the step against the logistic-regression circuit's bounds, computes what the
// circuit computes (the same integers), derives the noise z from w and w', and returns the
// full assignment for D features and capacity B, and the public inputs.
func Assign(in StepInput, d, b int) (*LogRegStep, Public, error) {
	p, err := prepare(in, d+1, d, b)
	if err != nil {
		return nil, Public{}, err
	}
	one := big.NewInt(fixed.One)
	table := fixed.SigmoidTable()
	threshold := new(big.Int).Mul(big.NewInt(in.Clip*in.Clip), pow2(4*fixed.F))
	sum := zeros(d + 1)
	for i := 0; i < b; i++ {
		acc := new(big.Int).Mul(big.NewInt(in.WBefore[d]), one)
		x2 := new(big.Int).Mul(one, one)
		for j := 0; j < d; j++ {
			acc.Add(acc, new(big.Int).Mul(big.NewInt(in.WBefore[j]), big.NewInt(p.x[i][j])))
			x2.Add(x2, new(big.Int).Mul(big.NewInt(p.x[i][j]), big.NewInt(p.x[i][j])))
		}
		e := big.NewInt(p.m[i] * (sigmoidNative(table, acc) - p.y[i]*fixed.One))
		norm2 := new(big.Int).Mul(new(big.Int).Mul(e, e), x2)
		fe := new(big.Int).Mul(ClipFactor(norm2, threshold, one), e)
		for j := 0; j < d; j++ {
			sum[j].Add(sum[j], new(big.Int).Mul(fe, big.NewInt(p.x[i][j])))
		}
		sum[d].Add(sum[d], new(big.Int).Mul(fe, one))
	}
	noise, err := deriveNoise(in, sum, 3*fixed.F, p.noiseBound)
	if err != nil {
		return nil, Public{}, err
	}
	c := NewLogRegStep(d, b)
	pub := fill(&c.StepPublic, &c.StepWitness, in, p, noise)
	return c, pub, nil
}

// PublicFromList builds the public inputs from their circuit-order list.
func PublicFromList(v []*big.Int) (Public, error) {
	if len(v) != 9 {
		return Public{}, fmt.Errorf("a logreg step has 9 public inputs, got %d", len(v))
	}
	return Public{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]}, nil
}
