package circuit

import (
	"fmt"
	"math/big"

	"github.com/consensys/gnark/constraint/solver"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/rangecheck"
)

// Hints compute values the prover supplies; every hint output is pinned down by constraints
// next to its use (a hint is never trusted). Their identity is their qualified name: renaming
// or moving one invalidates existing keys.
func init() {
	solver.RegisterHint(FloorDivHint, IsLessHint, ClipFactorHint)
}

// signed lifts a field element to the centred range (-r/2, r/2].
func signed(field, a *big.Int) *big.Int {
	r := new(big.Int).Set(a)
	if r.Cmp(new(big.Int).Rsh(field, 1)) > 0 {
		r.Sub(r, field)
	}
	return r
}

// FloorDivHint: (a, d) with d > 0 -> (floor(a / d), a mod d).
func FloorDivHint(field *big.Int, in, out []*big.Int) error {
	a, d := signed(field, in[0]), signed(field, in[1])
	if d.Sign() <= 0 {
		return fmt.Errorf("FloorDivHint: divisor %s is not positive", d)
	}
	q, r := new(big.Int), new(big.Int)
	q.DivMod(a, d, r) // Euclidean: 0 <= r < d, so q is the floor for d > 0
	out[0].Mod(q, field)
	out[1].Set(r)
	return nil
}

// IsLessHint: (a, b) -> 1 if a < b (as signed integers) else 0.
func IsLessHint(field *big.Int, in, out []*big.Int) error {
	if signed(field, in[0]).Cmp(signed(field, in[1])) < 0 {
		out[0].SetUint64(1)
	} else {
		out[0].SetUint64(0)
	}
	return nil
}

// ClipFactorHint: (norm2, T, one) -> the largest integer f in [0, one] with f^2 * norm2 <= T.
func ClipFactorHint(field *big.Int, in, out []*big.Int) error {
	out[0].Set(ClipFactor(in[0], in[1], in[2]))
	return nil
}

// ClipFactor is the integer clipping factor, shared with the native prover.
func ClipFactor(norm2, t, one *big.Int) *big.Int {
	if norm2.Sign() == 0 {
		return new(big.Int).Set(one)
	}
	f := new(big.Int).Sqrt(new(big.Int).Quo(t, norm2))
	if f.Cmp(one) > 0 {
		f.Set(one)
	}
	return f
}

// gadgets wraps the API with the fixed-point helpers the circuits use.
type gadgets struct {
	api frontend.API
	rc  frontend.Rangechecker
}

func newGadgets(api frontend.API) *gadgets {
	return &gadgets{api: api, rc: rangecheck.New(api)}
}

func pow2(bits int) *big.Int { return new(big.Int).Lsh(big.NewInt(1), uint(bits)) }

// signedBits asserts -2^bits <= v < 2^bits (offset, then an unsigned range check).
func (g *gadgets) signedBits(v frontend.Variable, bits int) {
	g.rc.Check(g.api.Add(v, pow2(bits)), bits+1)
}

// nonNegative asserts 0 <= v < 2^bits.
func (g *gadgets) nonNegative(v frontend.Variable, bits int) {
	g.rc.Check(v, bits)
}

// floorDivPow2 returns floor(a / 2^k) for a signed a, asserting |quotient| < 2^qBits.
func (g *gadgets) floorDivPow2(a frontend.Variable, k, qBits int) frontend.Variable {
	out, err := g.api.Compiler().NewHint(FloorDivHint, 2, a, pow2(k))
	if err != nil {
		panic(err)
	}
	q, r := out[0], out[1]
	g.api.AssertIsEqual(a, g.api.Add(g.api.Mul(q, pow2(k)), r))
	g.rc.Check(r, k)
	g.signedBits(q, qBits)
	return q
}

// isLess returns 1 if a < b else 0, for |a - b| < 2^bits.
func (g *gadgets) isLess(a, b frontend.Variable, bits int) frontend.Variable {
	out, err := g.api.Compiler().NewHint(IsLessHint, 1, a, b)
	if err != nil {
		panic(err)
	}
	lt := out[0]
	g.api.AssertIsBoolean(lt)
	g.rc.Check(g.api.Select(lt, g.api.Sub(b, a, 1), g.api.Sub(a, b)), bits)
	return lt
}

// pack mirrors fixed.Pack: sum_k (v_k + 2^bits) * 2^((bits+1)k) per group of perElem values
// (each value already range-checked to bits, so the packing is injective).
func (g *gadgets) pack(values []frontend.Variable, bits, perElem int) []frontend.Variable {
	var out []frontend.Variable
	for start := 0; start < len(values); start += perElem {
		acc := frontend.Variable(0)
		end := min(start+perElem, len(values))
		for k := end - 1; k >= start; k-- {
			acc = g.api.Add(g.api.Mul(acc, pow2(bits+1)), g.api.Add(values[k], pow2(bits)))
		}
		out = append(out, acc)
	}
	return out
}

// packBits mirrors fixed.PackBits for boolean values.
func (g *gadgets) packBits(values []frontend.Variable) []frontend.Variable {
	var out []frontend.Variable
	for start := 0; start < len(values); start += 240 {
		acc := frontend.Variable(0)
		end := min(start+240, len(values))
		for k := end - 1; k >= start; k-- {
			acc = g.api.Add(g.api.Mul(acc, 2), values[k])
		}
		out = append(out, acc)
	}
	return out
}
