package secagg

import (
	"bytes"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

func TestExpandIsDeterministicCanonicalAndPrefixStable(t *testing.T) {
	seed, iv := bytes.Repeat([]byte{7}, 32), append([]byte("fedledger-pair"), 0, 0)
	a, err := Expand(seed, iv, 10000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Expand(seed, iv, 100)
	for k := range b {
		if !a[k].Equal(&b[k]) {
			t.Fatalf("element %d differs between a long and a short expansion", k)
		}
	}
	raw := Write(nil, a)
	back, err := Read(raw, len(a))
	if err != nil || len(back) != len(a) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := Expand(seed[:31], iv, 1); err == nil {
		t.Fatal("a short seed was accepted")
	}
}

func TestApplyAddsAndSubtractsMasks(t *testing.T) {
	seed, iv := bytes.Repeat([]byte{1}, 32), make([]byte, 16)
	acc := make([]fr.Element, 50)
	if _, err := Apply(acc, []Mask{{seed, iv, false}, {seed, iv, true}}); err != nil {
		t.Fatal(err)
	}
	for k := range acc {
		if !acc[k].IsZero() {
			t.Fatal("adding and subtracting one mask left something")
		}
	}
}

func TestReadRefusesNonCanonicalElements(t *testing.T) {
	bad := bytes.Repeat([]byte{0xff}, 32)
	if _, err := Read(bad, 1); err == nil {
		t.Fatal("an element above the field order was read")
	}
}
