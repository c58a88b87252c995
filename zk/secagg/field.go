// Package secagg is the field arithmetic of fedledger's secure aggregation on long vectors: the
// masks expanded from seeds and the sums and values at a point that masking, unmasking and the
// binding check need. It mirrors agent/secagg/field.py element for element (the agent uses it
// for vectors of more than a few thousand elements; tests check both give the same bytes).
//
// Vectors are little-endian 32-byte elements of the BN254 scalar field, each below its order.
// They are held as fr.Element limbs *as they are* (not in Montgomery form): addition and
// subtraction modulo the order do not care, and Horner's rule with the point in Montgomery form
// yields a plain value, so no element is ever converted.
package secagg

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math/big"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// ElementBytes is the size of one element.
const ElementBytes = fr.Bytes

var order = limbsOf(fr.Modulus())

func limbsOf(v *big.Int) [4]uint64 {
	var out [4]uint64
	words := new(big.Int).Set(v)
	mask := new(big.Int).SetUint64(^uint64(0))
	for i := range out {
		out[i] = new(big.Int).And(words, mask).Uint64()
		words.Rsh(words, 64)
	}
	return out
}

// below reports whether the limbs are a canonical element (below the order).
func below(e *fr.Element) bool {
	for i := 3; i >= 0; i-- {
		if e[i] != order[i] {
			return e[i] < order[i]
		}
	}
	return false
}

func load(e *fr.Element, le []byte) {
	for i := range e {
		e[i] = binary.LittleEndian.Uint64(le[8*i:])
	}
}

// Read parses n little-endian elements, refusing any at or above the field order.
func Read(raw []byte, n int) ([]fr.Element, error) {
	if len(raw) != n*ElementBytes {
		return nil, fmt.Errorf("%d elements take %d bytes, got %d", n, n*ElementBytes, len(raw))
	}
	out := make([]fr.Element, n)
	for k := range out {
		load(&out[k], raw[k*ElementBytes:])
		if !below(&out[k]) {
			return nil, fmt.Errorf("element %d is not below the field order", k)
		}
	}
	return out, nil
}

// Write appends the little-endian bytes of v to dst.
func Write(dst []byte, v []fr.Element) []byte {
	var le [ElementBytes]byte
	for k := range v {
		for i := range v[k] {
			binary.LittleEndian.PutUint64(le[8*i:], v[k][i])
		}
		dst = append(dst, le[:]...)
	}
	return dst
}

// Value is the integer an element's limbs hold.
func Value(e *fr.Element) *big.Int {
	var be [ElementBytes]byte
	for i := range e {
		binary.BigEndian.PutUint64(be[ElementBytes-8*(i+1):], e[i])
	}
	return new(big.Int).SetBytes(be[:])
}

// Expand is n uniform elements from a 32-byte seed: the AES-256-CTR keystream from the 16-byte
// initial counter block iv, read as 32-byte little-endian candidates with the two top bits
// cleared, each kept when below the field order (rejection sampling, about 3 in 4 are).
func Expand(seed, iv []byte, n int) ([]fr.Element, error) {
	if len(seed) != 32 || len(iv) != aes.BlockSize {
		return nil, fmt.Errorf("a mask seed is 32 bytes and its counter block 16")
	}
	block, err := aes.NewCipher(seed)
	if err != nil {
		return nil, err
	}
	stream := cipher.NewCTR(block, iv)
	out := make([]fr.Element, 0, n)
	buf := make([]byte, ElementBytes*4096)
	for len(out) < n {
		for i := range buf {
			buf[i] = 0
		}
		stream.XORKeyStream(buf, buf)
		for off := 0; off < len(buf) && len(out) < n; off += ElementBytes {
			var e fr.Element
			load(&e, buf[off:])
			e[3] &= 1<<62 - 1
			if below(&e) {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// Horner is sum_k v_k z^k for the plain integer z (the result is plain too: see the package
// comment).
func Horner(v []fr.Element, z *big.Int) *big.Int {
	var zm, acc fr.Element
	zm.SetBigInt(z) // Montgomery form: Mul(plain, zm) = plain * z
	for k := len(v) - 1; k >= 0; k-- {
		acc.Mul(&acc, &zm)
		acc.Add(&acc, &v[k])
	}
	return Value(&acc)
}

// Mask is one mask to add or subtract: its seed, counter block and sign.
type Mask struct {
	Seed, IV []byte
	Subtract bool
}

// Apply adds (or subtracts) each mask, expanded to len(acc) elements, to acc in place, and
// returns the expanded masks; the masks are expanded concurrently (the machine's cores share
// them).
func Apply(acc []fr.Element, masks []Mask) ([][]fr.Element, error) {
	expanded := make([][]fr.Element, len(masks))
	errs := make([]error, len(masks))
	var wg sync.WaitGroup
	for j := range masks {
		wg.Add(1)
		go func(j int) {
			defer wg.Done()
			expanded[j], errs[j] = Expand(masks[j].Seed, masks[j].IV, len(acc))
		}(j)
	}
	wg.Wait()
	for j, m := range masks {
		if errs[j] != nil {
			return nil, errs[j]
		}
		v := expanded[j]
		for k := range acc {
			if m.Subtract {
				acc[k].Sub(&acc[k], &v[k])
			} else {
				acc[k].Add(&acc[k], &v[k])
			}
		}
	}
	return expanded, nil
}
