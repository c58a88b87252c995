// Package fixed holds the fixed-point format shared by the training-step circuits, the native
// prover and the agent: scales, bounds, the sigmoid table, value packing and the Poseidon2
// commitments. The circuit and this package must agree bit for bit; tests check that they do.
//
// Format: every real value v is the integer round(v * 2^F) with F = 12 fractional bits.
// Weights satisfy |w| < 2^7 (WBits = F + 7 signed bits); features are clamped by the agent to
// [-8, 8) (XBits = F + 3); labels and batch-membership bits are 0 or 1. The sigmoid is a table
// of 2^12 entries over [-8, 8) in steps of 2^-8, each entry round(sigmoid(center) * 2^F):
// its error against the float sigmoid is below 2^-9 (half a step times the maximal slope 1/4,
// plus rounding 2^-13).
package fixed

import (
	"fmt"
	"math"
	"math/big"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr/poseidon2"
)

const (
	F        = 12 // fractional bits of weights, features, probabilities and learning rate
	One      = int64(1) << F
	WBits    = F + 7  // |w| < 2^WBits
	XBits    = F + 3  // |x| < 2^XBits (features clamped to [-8, 8))
	ZF       = 8      // fractional bits of the sigmoid table's input
	TblBits  = 12     // 2^12 table entries over [-8, 8)
	ZBits    = F + 16 // |noise coordinate| < 2^ZBits (F-scaled)
	WPerElem = 12     // packed weights per field element (WBits+1 = 20 bits each)
	XPerElem = 15     // packed features per field element (XBits+1 = 16 bits each)
)

// Domain tags keep weight, batch and other commitments apart.
const (
	TagWeights = 0x77656967 // "weig"
	TagBatch   = 0x62617463 // "batc"
)

// SigmoidTable returns the table the circuits look up: entry i is sigmoid((i - 2^11) / 2^ZF)
// at scale 2^F, rounded to nearest.
func SigmoidTable() []int64 {
	n := 1 << TblBits
	t := make([]int64, n)
	for i := 0; i < n; i++ {
		x := float64(i-n/2) / float64(int64(1)<<ZF)
		t[i] = int64(math.Round(float64(One) / (1 + math.Exp(-x))))
	}
	return t
}

// CheckSigned reports whether |v| < 2^bits.
func CheckSigned(name string, v int64, bits int) error {
	limit := int64(1) << bits
	if v <= -limit || v >= limit {
		return fmt.Errorf("%s = %d is outside (-2^%d, 2^%d)", name, v, bits, bits)
	}
	return nil
}

// Pack puts values (each |v| < 2^bits) into field elements, perElem per element, each value
// offset by 2^bits so it is non-negative and (bits+1) wide: element = sum_k (v_k + 2^bits) * 2^((bits+1)k).
func Pack(values []int64, bits, perElem int) []*big.Int {
	width := uint(bits + 1)
	offset := big.NewInt(1)
	offset.Lsh(offset, uint(bits))
	var out []*big.Int
	for start := 0; start < len(values); start += perElem {
		acc := new(big.Int)
		end := min(start+perElem, len(values))
		for k := end - 1; k >= start; k-- {
			acc.Lsh(acc, width)
			acc.Add(acc, new(big.Int).Add(big.NewInt(values[k]), offset))
		}
		out = append(out, acc)
	}
	return out
}

// PackBits packs 0/1 values, 240 per element, the first value in the lowest bit.
func PackBits(values []int64) []*big.Int {
	var out []*big.Int
	for start := 0; start < len(values); start += 240 {
		acc := new(big.Int)
		end := min(start+240, len(values))
		for k := end - 1; k >= start; k-- {
			acc.Lsh(acc, 1)
			acc.Add(acc, big.NewInt(values[k]))
		}
		out = append(out, acc)
	}
	return out
}

// Hash is Poseidon2 (Merkle-Damgard over the width-2 permutation, gnark-crypto) of field
// elements given as big integers reduced mod r.
func Hash(elems []*big.Int) *big.Int {
	h := poseidon2.NewMerkleDamgardHasher()
	for _, v := range elems {
		var e fr.Element
		e.SetBigInt(v)
		b := e.Bytes()
		h.Write(b[:])
	}
	var out fr.Element
	out.SetBytes(h.Sum(nil))
	return out.BigInt(new(big.Int))
}

// WeightsCommitment = Hash(TagWeights, len, packed weights).
func WeightsCommitment(w []int64) *big.Int {
	elems := []*big.Int{big.NewInt(TagWeights), big.NewInt(int64(len(w)))}
	return Hash(append(elems, Pack(w, WBits, WPerElem)...))
}

// BatchCommitment = Hash(TagBatch, round, step, salt, packed label and membership bits,
// packed features (row-major)). Binding round and step makes every leaf unique to its place.
func BatchCommitment(round, step, salt *big.Int, x [][]int64, y, mask []int64) *big.Int {
	bitsVals := append(append([]int64{}, y...), mask...)
	var flat []int64
	for _, row := range x {
		flat = append(flat, row...)
	}
	elems := []*big.Int{big.NewInt(TagBatch), round, step, salt}
	elems = append(elems, PackBits(bitsVals)...)
	return Hash(append(elems, Pack(flat, XBits, XPerElem)...))
}

// FieldBytes is the 32-byte big-endian encoding of a field element (as Merkle leaves use it).
func FieldBytes(v *big.Int) []byte {
	var e fr.Element
	e.SetBigInt(v)
	b := e.Bytes()
	return b[:]
}
