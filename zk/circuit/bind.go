package circuit

import (
	"fmt"
	"math/big"
	"regexp"
	"strconv"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/hash/poseidon2"

	"fedledger.local/zk/fixed"
)

// The binding circuit ties a hospital's masked input in a secure-aggregation round to the
// weights its training proofs end at, and bounds the update's size.
//
// The masked input is the vector u = encode(n (w1 - w0)) || rho0 || rho1 over the BN254 scalar
// field (agent/secagg/field.py): coordinate j of the update is c_j = 2^(FB - F) n (W1_j - W0_j)
// with W the weights on the 2^-F grid and FB = 16 the masking's fractional bits, six coordinates
// per element as sum_s c_(6k+s) 2^(42 s), and two uniformly random blinding elements at the end.
// The ledger draws a point z after every masked input is fixed; this proof shows that
// u(z) = sum_k u_k z^k equals the public Value for the u defined by the committed weights w0
// (the round's model), w1 (the hospital's final weights, the last step of its audited chain)
// and the committed blinding; and that sum_j (W1_j - W0_j)^2 <= NormBound.
//
// Public inputs, in this order: WStart, WFinal, Blind, Samples, Point, Value, NormBound.

const (
	MaskFractionBits = 16         // agent/secagg/field.py FRACTION_BITS
	MaskSlotBits     = 42         // agent/secagg/field.py SLOT_BITS
	MaskSlots        = 6          // coordinates per element
	MaskCoordBits    = 35         // |c_j| < 2^35: 64 summands stay within a slot's +-2^41
	SamplesBits      = 24         // 1 <= n < 2^24
	TagBlind         = 0x626c6e64 // "blnd"
)

var bindName = regexp.MustCompile(`^bind-w(\d+)$`)

// BindName names the binding circuit of a model with this many weights.
func BindName(weights int) string { return fmt.Sprintf("bind-w%d", weights) }

// ParseBind returns the weight count of a binding circuit's name (ok false for other names).
func ParseBind(name string) (int, bool, error) {
	m := bindName.FindStringSubmatch(name)
	if m == nil {
		return 0, false, nil
	}
	n, _ := strconv.Atoi(m[1])
	if n < 1 || n > 4096 {
		return 0, true, fmt.Errorf("circuit %q: the weight count must be 1..4096", name)
	}
	return n, true, nil
}

// BindElements is how many field elements hold the update of a model with this many weights
// (the two blinding elements come after them).
func BindElements(weights int) int { return (weights + MaskSlots - 1) / MaskSlots }

// Bind is the binding circuit for a model with len(W0) weights.
type Bind struct {
	WStart    frontend.Variable `gnark:",public"`
	WFinal    frontend.Variable `gnark:",public"`
	Blind     frontend.Variable `gnark:",public"`
	Samples   frontend.Variable `gnark:",public"`
	Point     frontend.Variable `gnark:",public"`
	Value     frontend.Variable `gnark:",public"`
	NormBound frontend.Variable `gnark:",public"`

	W0, W1     []frontend.Variable
	Rho0, Rho1 frontend.Variable
	Salt       frontend.Variable
}

// NewBind allocates an empty binding circuit.
func NewBind(weights int) *Bind {
	return &Bind{W0: make([]frontend.Variable, weights), W1: make([]frontend.Variable, weights)}
}

// Define states the binding.
func (c *Bind) Define(api frontend.API) error {
	g := newGadgets(api)
	g.nonNegative(api.Sub(c.Samples, 1), SamplesBits)
	g.nonNegative(c.NormBound, 62)
	for j := range c.W0 {
		g.signedBits(c.W0[j], fixed.WBits)
		g.signedBits(c.W1[j], fixed.WBits)
	}
	h, err := poseidon2.New(api)
	if err != nil {
		return err
	}
	h.Write(fixed.TagWeights, len(c.W0))
	h.Write(g.pack(c.W0, fixed.WBits, fixed.WPerElem)...)
	api.AssertIsEqual(h.Sum(), c.WStart)
	h.Reset()
	h.Write(fixed.TagWeights, len(c.W1))
	h.Write(g.pack(c.W1, fixed.WBits, fixed.WPerElem)...)
	api.AssertIsEqual(h.Sum(), c.WFinal)
	h.Reset()
	h.Write(TagBlind, c.Salt, c.Rho0, c.Rho1)
	api.AssertIsEqual(h.Sum(), c.Blind)

	scale := api.Mul(c.Samples, pow2(MaskFractionBits-fixed.F))
	norm := frontend.Variable(0)
	elems := make([]frontend.Variable, BindElements(len(c.W0)))
	for k := range elems {
		elems[k] = 0
	}
	for j := range c.W0 {
		delta := api.Sub(c.W1[j], c.W0[j])
		norm = api.MulAcc(norm, delta, delta)
		coord := api.Mul(scale, delta)
		g.signedBits(coord, MaskCoordBits)
		elems[j/MaskSlots] = api.Add(elems[j/MaskSlots], api.Mul(coord, pow2(MaskSlotBits*(j%MaskSlots))))
	}
	g.nonNegative(api.Sub(c.NormBound, norm), 62)
	acc := api.Add(api.Mul(c.Rho1, c.Point), c.Rho0) // Horner from the highest power down
	for k := len(elems) - 1; k >= 0; k-- {
		acc = api.Add(api.Mul(acc, c.Point), elems[k])
	}
	api.AssertIsEqual(acc, c.Value)
	return nil
}

// BindInput is what the agent sends to prove a binding: integers on the 2^-F grid, field
// elements as decimal strings.
type BindInput struct {
	WStart    []int64 `json:"w_start"`
	WFinal    []int64 `json:"w_final"`
	Samples   int64   `json:"samples"`
	Point     string  `json:"point"`
	Rho0      string  `json:"rho0"`
	Rho1      string  `json:"rho1"`
	Salt      string  `json:"salt"`
	NormBound string  `json:"norm_bound"`
}

// BindPublic is the binding's public input, in the circuit's order.
type BindPublic struct {
	WStart, WFinal, Blind, Samples, Point, Value, NormBound *big.Int
}

// List is the public input in the circuit's order.
func (p BindPublic) List() []*big.Int {
	return []*big.Int{p.WStart, p.WFinal, p.Blind, p.Samples, p.Point, p.Value, p.NormBound}
}

// BlindCommitment = Hash(TagBlind, salt, rho0, rho1).
func BlindCommitment(salt, rho0, rho1 *big.Int) *big.Int {
	return fixed.Hash([]*big.Int{big.NewInt(TagBlind), salt, rho0, rho1})
}

// BindEncode is the update's elements as the masking encodes them (without the blinding).
func BindEncode(w0, w1 []int64, samples int64) ([]*big.Int, error) {
	r := ecc.BN254.ScalarField()
	scale := new(big.Int).Lsh(big.NewInt(samples), MaskFractionBits-fixed.F)
	limit := new(big.Int).Lsh(big.NewInt(1), MaskCoordBits)
	elems := make([]*big.Int, BindElements(len(w0)))
	for k := range elems {
		elems[k] = new(big.Int)
	}
	for j := range w0 {
		coord := new(big.Int).Mul(scale, big.NewInt(w1[j]-w0[j]))
		if new(big.Int).Abs(coord).Cmp(limit) >= 0 {
			return nil, fmt.Errorf("coordinate %d of n * update is %s on the 2^-16 grid, beyond the masking's bound 2^%d",
				j, coord, MaskCoordBits)
		}
		elems[j/MaskSlots].Add(elems[j/MaskSlots], coord.Lsh(coord, uint(MaskSlotBits*(j%MaskSlots))))
	}
	for _, e := range elems {
		e.Mod(e, r)
	}
	return elems, nil
}

// Evaluate is sum_k v_k z^k mod r.
func Evaluate(v []*big.Int, z *big.Int) *big.Int {
	r := ecc.BN254.ScalarField()
	acc := new(big.Int)
	for k := len(v) - 1; k >= 0; k-- {
		acc.Mul(acc, z)
		acc.Add(acc, v[k])
		acc.Mod(acc, r)
	}
	return acc
}

// AssignBind checks a binding input and returns the full assignment and the public input.
func AssignBind(in BindInput, weights int) (*Bind, BindPublic, error) {
	var pub BindPublic
	if len(in.WStart) != weights || len(in.WFinal) != weights {
		return nil, pub, fmt.Errorf("w_start and w_final must have %d entries each, got %d and %d",
			weights, len(in.WStart), len(in.WFinal))
	}
	for j := range in.WStart {
		if err := fixed.CheckSigned(fmt.Sprintf("w_start[%d]", j), in.WStart[j], fixed.WBits); err != nil {
			return nil, pub, err
		}
		if err := fixed.CheckSigned(fmt.Sprintf("w_final[%d]", j), in.WFinal[j], fixed.WBits); err != nil {
			return nil, pub, err
		}
	}
	if in.Samples < 1 || in.Samples >= 1<<SamplesBits {
		return nil, pub, fmt.Errorf("samples = %d is outside [1, 2^%d)", in.Samples, SamplesBits)
	}
	vals := map[string]*big.Int{}
	for name, s := range map[string]string{"point": in.Point, "rho0": in.Rho0, "rho1": in.Rho1, "salt": in.Salt,
		"norm_bound": in.NormBound} {
		v, err := parseDec(name, s)
		if err != nil {
			return nil, pub, err
		}
		if v.Cmp(ecc.BN254.ScalarField()) >= 0 {
			return nil, pub, fmt.Errorf("%s is not below the field order", name)
		}
		vals[name] = v
	}
	if vals["norm_bound"].BitLen() > 62 {
		return nil, pub, fmt.Errorf("norm_bound must be below 2^62")
	}
	norm := new(big.Int)
	for j := range in.WStart {
		d := big.NewInt(in.WFinal[j] - in.WStart[j])
		norm.Add(norm, new(big.Int).Mul(d, d))
	}
	if norm.Cmp(vals["norm_bound"]) > 0 {
		return nil, pub, fmt.Errorf("the update's squared norm %s exceeds the bound %s (2^-24 units)", norm, vals["norm_bound"])
	}
	elems, err := BindEncode(in.WStart, in.WFinal, in.Samples)
	if err != nil {
		return nil, pub, err
	}
	full := append(elems, vals["rho0"], vals["rho1"])
	pub = BindPublic{WStart: fixed.WeightsCommitment(in.WStart), WFinal: fixed.WeightsCommitment(in.WFinal),
		Blind: BlindCommitment(vals["salt"], vals["rho0"], vals["rho1"]), Samples: big.NewInt(in.Samples),
		Point: vals["point"], Value: Evaluate(full, vals["point"]), NormBound: vals["norm_bound"]}
	c := NewBind(weights)
	for j := range in.WStart {
		c.W0[j], c.W1[j] = in.WStart[j], in.WFinal[j]
	}
	c.Rho0, c.Rho1, c.Salt = vals["rho0"], vals["rho1"], vals["salt"]
	c.SetBindPublic(pub)
	return c, pub, nil
}

// SetBindPublic fills the public fields.
func (c *Bind) SetBindPublic(p BindPublic) {
	c.WStart, c.WFinal, c.Blind, c.Samples = p.WStart, p.WFinal, p.Blind, p.Samples
	c.Point, c.Value, c.NormBound = p.Point, p.Value, p.NormBound
}

// BindPublicFromList parses the seven public inputs.
func BindPublicFromList(v []*big.Int) (BindPublic, error) {
	if len(v) != 7 {
		return BindPublic{}, fmt.Errorf("a binding has 7 public inputs, got %d", len(v))
	}
	return BindPublic{v[0], v[1], v[2], v[3], v[4], v[5], v[6]}, nil
}
