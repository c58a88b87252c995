// Package ceremony runs the consortium's Groth16 setup as a multi-party computation (gnark's
// mpcsetup for BN254): phase 1 (powers of tau, for every circuit up to 2^power constraints)
// and phase 2 (per circuit). Every hospital contributes its own randomness to both phases;
// the keys are sound as long as one contributor destroyed its randomness (gnark's
// Contribute draws it from crypto/rand and keeps it only in memory). Each step reads the
// previous transcript file and writes the next, whose SHA-256 is the hash recorded on the
// ledger; sealing verifies the whole chain and applies a public beacon chosen after the last
// contribution.
package ceremony

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/backend/groth16/bn254/mpcsetup"
	cs "github.com/consensys/gnark/constraint/bn254"

	"fedledger.local/zk/circuit"
)

type readerFrom interface {
	ReadFrom(io.Reader) (int64, error)
}
type writerTo interface {
	WriteTo(io.Writer) (int64, error)
}

func load(path string, v readerFrom) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := v.ReadFrom(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// save writes v to path (via a temporary file) and returns the file's SHA-256 (hex).
func save(path string, v writerTo) (string, error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := v.WriteTo(io.MultiWriter(f, h)); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), os.Rename(tmp, path)
}

// Phase1New starts phase 1 for circuits of up to 2^power constraints.
func Phase1New(power int, out string) (string, error) {
	if power < 4 || power > 22 {
		return "", fmt.Errorf("power must be 4..22")
	}
	return save(out, mpcsetup.NewPhase1(uint64(1)<<power))
}

// Phase1Contribute adds this party's randomness to the transcript at in.
func Phase1Contribute(in, out string) (string, error) {
	var p mpcsetup.Phase1
	if err := load(in, &p); err != nil {
		return "", err
	}
	p.Contribute()
	return save(out, &p)
}

// Phase1Seal verifies every contribution (in order) and seals phase 1 with the beacon.
func Phase1Seal(power int, beacon []byte, out string, contributions ...string) (string, error) {
	ps := make([]*mpcsetup.Phase1, len(contributions))
	for i, path := range contributions {
		ps[i] = new(mpcsetup.Phase1)
		if err := load(path, ps[i]); err != nil {
			return "", err
		}
	}
	commons, err := mpcsetup.VerifyPhase1(uint64(1)<<power, beacon, ps...)
	if err != nil {
		return "", fmt.Errorf("phase 1 transcript does not verify: %w", err)
	}
	return save(out, &commons)
}

func r1cs(name string) (*cs.R1CS, error) {
	ccs, err := circuit.Compile(name)
	if err != nil {
		return nil, err
	}
	r, ok := ccs.(*cs.R1CS)
	if !ok {
		return nil, fmt.Errorf("circuit %s did not compile to a BN254 R1CS", name)
	}
	return r, nil
}

// Phase2New starts phase 2 for one circuit from the sealed phase-1 parameters.
func Phase2New(name, srs, out string) (hash string, err error) {
	defer func() { // gnark panics when the circuit is larger than phase 1 supports
		if r := recover(); r != nil {
			hash, err = "", fmt.Errorf("circuit %s does not fit the phase-1 parameters %s: %v", name, srs, r)
		}
	}()
	r, err := r1cs(name)
	if err != nil {
		return "", err
	}
	var commons mpcsetup.SrsCommons
	if err := load(srs, &commons); err != nil {
		return "", err
	}
	var p mpcsetup.Phase2
	p.Initialize(r, &commons)
	return save(out, &p)
}

// Phase2Contribute adds this party's randomness to the phase-2 transcript at in.
func Phase2Contribute(in, out string) (string, error) {
	var p mpcsetup.Phase2
	if err := load(in, &p); err != nil {
		return "", err
	}
	p.Contribute()
	return save(out, &p)
}

// Phase2Seal verifies every phase-2 contribution, seals with the beacon and writes the keys:
// the proving key uncompressed (fast to load, for this machine) and the verifying key compressed.
func Phase2Seal(name, srs string, beacon []byte, pkOut, vkOut string, contributions ...string) (pkHash, vkHash string, err error) {
	r, err := r1cs(name)
	if err != nil {
		return "", "", err
	}
	var commons mpcsetup.SrsCommons
	if err := load(srs, &commons); err != nil {
		return "", "", err
	}
	ps := make([]*mpcsetup.Phase2, len(contributions))
	for i, path := range contributions {
		ps[i] = new(mpcsetup.Phase2)
		if err := load(path, ps[i]); err != nil {
			return "", "", err
		}
	}
	pk, vk, err := mpcsetup.VerifyPhase2(r, &commons, beacon, ps...)
	if err != nil {
		return "", "", fmt.Errorf("phase 2 transcript does not verify: %w", err)
	}
	return SaveKeys(pk, vk, pkOut, vkOut)
}

type rawPK struct{ groth16.ProvingKey }

func (k rawPK) WriteTo(w io.Writer) (int64, error) { return k.ProvingKey.WriteRawTo(w) }

// SaveKeys writes pk (raw) and vk (compressed) and returns their SHA-256 hashes.
func SaveKeys(pk groth16.ProvingKey, vk groth16.VerifyingKey, pkOut, vkOut string) (string, string, error) {
	pkHash, err := save(pkOut, rawPK{pk})
	if err != nil {
		return "", "", err
	}
	vkHash, err := save(vkOut, vk)
	return pkHash, vkHash, err
}
