// Command fedledger-zk proves and verifies fedledger's training-step circuits and runs the
// consortium's setup ceremony. The agent calls it to commit to steps and prove audited ones;
// the chaincode calls it to verify proofs. Requests and answers are JSON on stdin/stdout;
// errors go to stderr with exit status 1 (2 for bad usage).
//
//	fedledger-zk info --circuit logreg-d30-b32
//	fedledger-zk commit --circuit logreg-d30-b32             < {"weights": [...], "batches": [...]}
//	fedledger-zk prove --circuit C --pk FILE                 < {"steps": [StepInput...]}
//	fedledger-zk verify --circuit C                           < {"vk": b64, "items": [{"proof": b64, "public": [dec...]}]}
//	fedledger-zk bind --circuit bind-w<N> --pk FILE          < BindInput (a secure-aggregation binding)
//	fedledger-zk bind-commit                                  < {"salt": dec, "rho0": dec, "rho1": dec}
//	fedledger-zk field-eval --point Z --elements N [--masks M] < vectors of N 32-byte little-endian elements, then M mask specs
//	fedledger-zk field-mask --elements N --masks M [--point Z] < vectors, then M mask specs (seed 32 B, counter block 16 B, sign 1 B)
//	fedledger-zk dev-setup --circuit C --pk FILE --vk FILE   (one party: tests and benchmarks only)
//	fedledger-zk ceremony phase1-new --power P --out F
//	fedledger-zk ceremony phase1-contribute --in F --out G
//	fedledger-zk ceremony phase1-seal --power P --beacon HEX --out SRS F1 F2 ...
//	fedledger-zk ceremony phase2-new --circuit C --srs SRS --out F
//	fedledger-zk ceremony phase2-contribute --in F --out G
//	fedledger-zk ceremony phase2-seal --circuit C --srs SRS --beacon HEX --pk PK --vk VK F1 F2 ...
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/constraint"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/logger"

	"fedledger.local/zk/ceremony"
	"fedledger.local/zk/circuit"
	"fedledger.local/zk/fixed"
	"fedledger.local/zk/secagg"
)

func main() {
	logger.Disable() // answers are JSON on stdout; progress logs would only be noise
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "info":
		err = info(os.Args[2:])
	case "commit":
		err = commit(os.Args[2:])
	case "prove":
		err = prove(os.Args[2:])
	case "verify":
		err = verify(os.Args[2:])
	case "bind":
		err = bind(os.Args[2:])
	case "bind-commit":
		err = bindCommit(os.Args[2:])
	case "field-eval":
		err = fieldEval(os.Args[2:])
	case "field-mask":
		err = fieldMask(os.Args[2:])
	case "dev-setup":
		err = devSetup(os.Args[2:])
	case "ceremony":
		err = runCeremony(os.Args[2:])
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "fedledger-zk: unknown command %q\n", os.Args[1])
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fedledger-zk %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: fedledger-zk <command> [flags]

commands:
  info        size of a circuit (constraints, public inputs)
  commit      Poseidon2 commitments of weights and batches (JSON on stdin)
  prove       Groth16 proofs of training steps (JSON on stdin)
  verify      check proofs against a verifying key (JSON on stdin)
  bind        prove that a masked input encodes the committed final weights' update (JSON on stdin)
  bind-commit the commitment to a binding's blinding elements (JSON on stdin)
  field-eval  values at a point of vectors and expanded masks over the BN254 scalar field (raw on stdin)
  field-mask  the sum of vectors plus or minus expanded masks (raw on stdin and stdout)
  dev-setup   one-party setup, for tests and benchmarks only (not a ceremony)
  ceremony    the consortium's multi-party setup: phase1-new | phase1-contribute | phase1-seal |
              phase2-new | phase2-contribute | phase2-seal

Run "fedledger-zk <command> -h" for a command's flags.`)
	os.Exit(2)
}

func emit(v any) error {
	return json.NewEncoder(os.Stdout).Encode(v)
}

func readInput(v any) error {
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("reading the JSON request on stdin: %w", err)
	}
	return nil
}

func circuitFlag(fs *flag.FlagSet) *string {
	return fs.String("circuit", "", "circuit name, e.g. logreg-d30-b32")
}

func parse(fs *flag.FlagSet, args []string) {
	if err := fs.Parse(args); err != nil {
		os.Exit(2)
	}
}

func info(args []string) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	name := circuitFlag(fs)
	parse(fs, args)
	t := time.Now()
	ccs, err := circuit.Compile(*name)
	if err != nil {
		return err
	}
	return emit(map[string]any{"circuit": *name, "constraints": ccs.GetNbConstraints(),
		"public_inputs": ccs.GetNbPublicVariables() - 1, "compile_s": time.Since(t).Seconds()})
}

type batchRequest struct {
	Round string    `json:"round"`
	Step  int64     `json:"step"`
	Salt  string    `json:"salt"`
	X     [][]int64 `json:"x"`
	Y     []int64   `json:"y"`
}

func hex32(v *big.Int) string { return hex.EncodeToString(fixed.FieldBytes(v)) }

func commit(args []string) error {
	fs := flag.NewFlagSet("commit", flag.ContinueOnError)
	name := circuitFlag(fs)
	parse(fs, args)
	spec, err := circuit.ParseSpec(*name)
	if err != nil {
		return err
	}
	nw := spec.Weights()
	var req struct {
		Weights [][]int64      `json:"weights"`
		Batches []batchRequest `json:"batches"`
	}
	if err := readInput(&req); err != nil {
		return err
	}
	out := struct {
		Weights []string `json:"weights"`
		Batches []string `json:"batches"`
	}{[]string{}, []string{}}
	for i, w := range req.Weights {
		if len(w) != nw {
			return fmt.Errorf("weights[%d] has %d entries, the circuit takes %d", i, len(w), nw)
		}
		for _, v := range w {
			if err := fixed.CheckSigned(fmt.Sprintf("weights[%d]", i), v, fixed.WBits); err != nil {
				return err
			}
		}
		out.Weights = append(out.Weights, hex32(fixed.WeightsCommitment(w)))
	}
	for i, br := range req.Batches {
		// the same padding and checks as a proof of this step would use
		in := circuit.StepInput{WBefore: make([]int64, nw), WAfter: make([]int64, nw), X: br.X, Y: br.Y,
			Salt: br.Salt, Step: br.Step, Round: br.Round, LR: fixed.One, Clip: fixed.One, ExpectedBatch: 1,
			NoiseBound: "1000000000000000000"}
		_, pub, err := spec.Assign(in)
		if err != nil {
			return fmt.Errorf("batches[%d]: %w", i, err)
		}
		out.Batches = append(out.Batches, hex32(pub.Batch))
	}
	return emit(out)
}

func loadPK(path string) (groth16.ProvingKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pk := groth16.NewProvingKey(ecc.BN254)
	if _, err := pk.UnsafeReadFrom(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pk, nil
}

// loadCircuit compiles a named circuit (or reads this build's compiled copy) and loads its
// proving key (and says how long it took).
func loadCircuit(name, pkPath string) (constraint.ConstraintSystem, groth16.ProvingKey, float64, error) {
	t := time.Now()
	ccs, err := compiled(name)
	if err != nil {
		return nil, nil, 0, err
	}
	pk, err := loadPK(pkPath)
	if err != nil {
		return nil, nil, 0, err
	}
	return ccs, pk, time.Since(t).Seconds(), nil
}

func decimals(p circuit.Public) []string {
	var out []string
	for _, v := range p.List() {
		out = append(out, v.String())
	}
	return out
}

func prove(args []string) error {
	fs := flag.NewFlagSet("prove", flag.ContinueOnError)
	name := circuitFlag(fs)
	pkPath := fs.String("pk", "", "proving key file (raw, from the ceremony or dev-setup)")
	parse(fs, args)
	spec, err := circuit.ParseSpec(*name)
	if err != nil {
		return err
	}
	var req struct {
		Steps []circuit.StepInput `json:"steps"`
	}
	if err := readInput(&req); err != nil {
		return err
	}
	ccs, pk, setupS, err := loadCircuit(*name, *pkPath)
	if err != nil {
		return err
	}
	type item struct {
		Proof  string   `json:"proof"`
		Public []string `json:"public"`
		ProveS float64  `json:"prove_s"`
	}
	out := struct {
		LoadS     float64 `json:"load_s"`
		Proofs    []item  `json:"proofs"`
		PeakRSSMB float64 `json:"peak_rss_mb"`
	}{LoadS: setupS}
	for i, step := range req.Steps {
		assignment, pub, err := spec.Assign(step)
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		t := time.Now()
		w, err := frontend.NewWitness(assignment, ecc.BN254.ScalarField())
		if err != nil {
			return err
		}
		proof, err := groth16.Prove(ccs, pk, w)
		if err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
		var buf bytes.Buffer
		if _, err := proof.WriteTo(&buf); err != nil {
			return err
		}
		out.Proofs = append(out.Proofs, item{base64.StdEncoding.EncodeToString(buf.Bytes()), decimals(pub),
			time.Since(t).Seconds()})
	}
	out.PeakRSSMB = peakRSSMB()
	return emit(out)
}

// peakRSSMB is this process's peak resident memory (VmHWM in /proc/self/status; 0 if unknown).
func peakRSSMB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}

func verify(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	name := circuitFlag(fs)
	parse(fs, args)
	weights, isBind, err := circuit.ParseBind(*name)
	if err != nil {
		return err
	}
	var spec circuit.Spec
	if !isBind {
		if spec, err = circuit.ParseSpec(*name); err != nil {
			return err
		}
	}
	var req struct {
		VK    string `json:"vk"`
		Items []struct {
			Proof  string   `json:"proof"`
			Public []string `json:"public"`
		} `json:"items"`
	}
	if err := readInput(&req); err != nil {
		return err
	}
	vkRaw, err := base64.StdEncoding.DecodeString(req.VK)
	if err != nil {
		return fmt.Errorf("vk is not base64: %w", err)
	}
	vk := groth16.NewVerifyingKey(ecc.BN254)
	if _, err := vk.ReadFrom(bytes.NewReader(vkRaw)); err != nil {
		return fmt.Errorf("vk: %w", err)
	}
	results := []verdict{}
	for _, it := range req.Items {
		if isBind {
			results = append(results, verifyBind(vk, weights, it.Proof, it.Public))
		} else {
			results = append(results, verifyOne(vk, spec, it.Proof, it.Public))
		}
	}
	return emit(map[string]any{"results": results})
}

// verdict is one proof's result: a bad proof is an answer, not an error of the command.
type verdict struct {
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty"`
}

// parseProof reads a base64 proof and decimal public inputs (each below the field order).
func parseProof(proofB64 string, public []string) (groth16.Proof, []*big.Int, error) {
	raw, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil {
		return nil, nil, fmt.Errorf("proof is not base64")
	}
	proof := groth16.NewProof(ecc.BN254)
	if _, err := proof.ReadFrom(bytes.NewReader(raw)); err != nil {
		return nil, nil, fmt.Errorf("proof does not parse: %v", err)
	}
	var vals []*big.Int
	for i, s := range public {
		v, ok := new(big.Int).SetString(s, 10)
		if !ok || v.Sign() < 0 || v.Cmp(ecc.BN254.ScalarField()) >= 0 {
			return nil, nil, fmt.Errorf("public input %d is not a field element", i)
		}
		vals = append(vals, v)
	}
	return proof, vals, nil
}

func verifyOne(vk groth16.VerifyingKey, spec circuit.Spec, proofB64 string, public []string) (r verdict) {
	fail := func(format string, a ...any) { r.Error = fmt.Sprintf(format, a...) }
	proof, vals, err := parseProof(proofB64, public)
	if err != nil {
		fail("%v", err)
		return
	}
	pub, err := circuit.PublicFromList(vals)
	if err != nil {
		fail("%v", err)
		return
	}
	assignment := spec.New()
	assignment.SetPublic(pub)
	return verifyAgainst(vk, proof, assignment)
}

// verifyAgainst checks a proof against the public part of an assignment.
func verifyAgainst(vk groth16.VerifyingKey, proof groth16.Proof, assignment frontend.Circuit) (r verdict) {
	w, err := frontend.NewWitness(assignment, ecc.BN254.ScalarField(), frontend.PublicOnly())
	if err != nil {
		r.Error = fmt.Sprintf("public witness: %v", err)
		return
	}
	if err := groth16.Verify(proof, vk, w); err != nil {
		r.Error = fmt.Sprintf("proof does not verify: %v", err)
		return
	}
	r.Valid = true
	return
}

func verifyBind(vk groth16.VerifyingKey, weights int, proofB64 string, public []string) (r verdict) {
	fail := func(format string, a ...any) { r.Error = fmt.Sprintf(format, a...) }
	proof, vals, err := parseProof(proofB64, public)
	if err != nil {
		fail("%v", err)
		return
	}
	pub, err := circuit.BindPublicFromList(vals)
	if err != nil {
		fail("%v", err)
		return
	}
	assignment := circuit.NewBind(weights)
	assignment.SetBindPublic(pub)
	return verifyAgainst(vk, proof, assignment)
}

// bind proves one binding: the value the masked input takes at the ledger's point, from the
// committed weights and blinding, and the update's norm within the study's bound.
func bind(args []string) error {
	fs := flag.NewFlagSet("bind", flag.ContinueOnError)
	name := circuitFlag(fs)
	pkPath := fs.String("pk", "", "proving key file (raw, from the ceremony or dev-setup)")
	parse(fs, args)
	weights, ok, err := circuit.ParseBind(*name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%q is not a binding circuit (bind-w<N>)", *name)
	}
	var req circuit.BindInput
	if err := readInput(&req); err != nil {
		return err
	}
	assignment, pub, err := circuit.AssignBind(req, weights)
	if err != nil {
		return err
	}
	ccs, pk, loadS, err := loadCircuit(*name, *pkPath)
	if err != nil {
		return err
	}
	t := time.Now()
	w, err := frontend.NewWitness(assignment, ecc.BN254.ScalarField())
	if err != nil {
		return err
	}
	proof, err := groth16.Prove(ccs, pk, w)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := proof.WriteTo(&buf); err != nil {
		return err
	}
	var public []string
	for _, v := range pub.List() {
		public = append(public, v.String())
	}
	return emit(map[string]any{"proof": base64.StdEncoding.EncodeToString(buf.Bytes()), "public": public,
		"value": pub.Value.String(), "load_s": loadS, "prove_s": time.Since(t).Seconds()})
}

func bindCommit(args []string) error {
	fs := flag.NewFlagSet("bind-commit", flag.ContinueOnError)
	parse(fs, args)
	var req struct {
		Salt string `json:"salt"`
		Rho0 string `json:"rho0"`
		Rho1 string `json:"rho1"`
	}
	if err := readInput(&req); err != nil {
		return err
	}
	vals := make([]*big.Int, 3)
	for i, s := range []string{req.Salt, req.Rho0, req.Rho1} {
		v, ok := new(big.Int).SetString(s, 10)
		if !ok || v.Sign() < 0 || v.Cmp(ecc.BN254.ScalarField()) >= 0 {
			return fmt.Errorf("salt, rho0 and rho1 must be decimal field elements")
		}
		vals[i] = v
	}
	return emit(map[string]any{"blind": circuit.BlindCommitment(vals[0], vals[1], vals[2]).String()})
}

// maskSpecBytes is one mask on stdin: its 32-byte seed, 16-byte counter block and a sign byte
// (0 adds the mask, 1 subtracts it).
const maskSpecBytes = 32 + 16 + 1

// splitInput reads stdin as whole vectors of n elements followed by m mask specs.
func splitInput(n, m int) ([][]fr.Element, []secagg.Mask, error) {
	raw, err := readStdin()
	if err != nil {
		return nil, nil, err
	}
	size, specs := n*fr.Bytes, m*maskSpecBytes
	if n < 1 || m < 0 || len(raw) < specs || (len(raw)-specs)%size != 0 {
		return nil, nil, fmt.Errorf("stdin holds %d bytes, not whole vectors of %d elements and %d mask specs",
			len(raw), n, m)
	}
	body, tail := raw[:len(raw)-specs], raw[len(raw)-specs:]
	vectors := make([][]fr.Element, len(body)/size)
	for j := range vectors {
		if vectors[j], err = secagg.Read(body[j*size:(j+1)*size], n); err != nil {
			return nil, nil, fmt.Errorf("vector %d: %v", j, err)
		}
	}
	masks := make([]secagg.Mask, m)
	for j := range masks {
		spec := tail[j*maskSpecBytes : (j+1)*maskSpecBytes]
		if spec[48] > 1 {
			return nil, nil, fmt.Errorf("mask %d: the sign byte must be 0 (add) or 1 (subtract)", j)
		}
		masks[j] = secagg.Mask{Seed: spec[:32], IV: spec[32:48], Subtract: spec[48] == 1}
	}
	return vectors, masks, nil
}

// readStdin reads all of stdin, in one allocation when it is a file of known size.
func readStdin() ([]byte, error) {
	if info, err := os.Stdin.Stat(); err == nil && info.Mode().IsRegular() {
		buf := make([]byte, info.Size())
		_, err := io.ReadFull(os.Stdin, buf)
		return buf, err
	}
	return io.ReadAll(os.Stdin)
}

// fieldEval answers sum_k v_k z^k for each vector on stdin, then for each mask spec the same
// of its expansion to N elements: the values a secure-aggregation participant and member need.
func fieldEval(args []string) error {
	fs := flag.NewFlagSet("field-eval", flag.ContinueOnError)
	point := fs.String("point", "", "the point z (decimal, below the field order)")
	n := fs.Int("elements", 0, "elements per vector")
	m := fs.Int("masks", 0, "mask specs after the vectors")
	parse(fs, args)
	z, ok := new(big.Int).SetString(*point, 10)
	if !ok || z.Sign() < 0 || z.Cmp(ecc.BN254.ScalarField()) >= 0 {
		return fmt.Errorf("--point must be a decimal field element")
	}
	vectors, masks, err := splitInput(*n, *m)
	if err != nil {
		return err
	}
	values := make([]string, len(vectors)+len(masks))
	errs := make([]error, len(values))
	var wg sync.WaitGroup
	for j := range values { // one goroutine per vector or mask: the machine's cores share them
		wg.Add(1)
		go func(j int) {
			defer wg.Done()
			v := []fr.Element(nil)
			if j < len(vectors) {
				v = vectors[j]
			} else if v, errs[j] = secagg.Expand(masks[j-len(vectors)].Seed, masks[j-len(vectors)].IV, *n); errs[j] != nil {
				return
			}
			values[j] = secagg.Horner(v, z).String()
		}(j)
	}
	wg.Wait()
	for j, err := range errs {
		if err != nil {
			return fmt.Errorf("item %d: %v", j, err)
		}
	}
	return emit(map[string]any{"values": values})
}

// fieldMask writes the sum of the vectors on stdin plus or minus each mask, expanded to N
// elements: a participant's masked input, or the unmasked sum of a committee member. With
// --point it then writes the value at that point of each vector and of each mask (unsigned),
// 32 bytes each: what a member of a round with bound inputs checks, from the same reading.
func fieldMask(args []string) error {
	fs := flag.NewFlagSet("field-mask", flag.ContinueOnError)
	n := fs.Int("elements", 0, "elements per vector")
	m := fs.Int("masks", 0, "mask specs after the vectors")
	point := fs.String("point", "", "also the values at this point (decimal field element)")
	parse(fs, args)
	var z *big.Int
	if *point != "" {
		var ok bool
		if z, ok = new(big.Int).SetString(*point, 10); !ok || z.Sign() < 0 || z.Cmp(ecc.BN254.ScalarField()) >= 0 {
			return fmt.Errorf("--point must be a decimal field element")
		}
	}
	vectors, masks, err := splitInput(*n, *m)
	if err != nil {
		return err
	}
	acc := make([]fr.Element, *n)
	for _, v := range vectors {
		for k := range acc {
			acc[k].Add(&acc[k], &v[k])
		}
	}
	expanded, err := secagg.Apply(acc, masks)
	if err != nil {
		return err
	}
	out := secagg.Write(make([]byte, 0, (*n+len(vectors)+len(masks))*fr.Bytes), acc)
	if z != nil {
		values := make([]*big.Int, len(vectors)+len(expanded))
		var wg sync.WaitGroup
		for j, v := range append(vectors, expanded...) {
			wg.Add(1)
			go func(j int, v []fr.Element) {
				defer wg.Done()
				values[j] = secagg.Horner(v, z)
			}(j, v)
		}
		wg.Wait()
		var be [fr.Bytes]byte
		for _, v := range values {
			v.FillBytes(be[:])
			for i := fr.Bytes - 1; i >= 0; i-- {
				out = append(out, be[i])
			}
		}
	}
	_, err = os.Stdout.Write(out)
	return err
}

func devSetup(args []string) error {
	fs := flag.NewFlagSet("dev-setup", flag.ContinueOnError)
	name := circuitFlag(fs)
	pkOut := fs.String("pk", "", "where to write the proving key")
	vkOut := fs.String("vk", "", "where to write the verifying key")
	parse(fs, args)
	ccs, err := circuit.Compile(*name)
	if err != nil {
		return err
	}
	t := time.Now()
	pk, vk, err := groth16.Setup(ccs)
	if err != nil {
		return err
	}
	setupS := time.Since(t).Seconds()
	pkHash, vkHash, err := ceremony.SaveKeys(pk, vk, *pkOut, *vkOut)
	if err != nil {
		return err
	}
	return emit(map[string]any{"circuit": *name, "pk_sha256": pkHash, "vk_sha256": vkHash, "setup_s": setupS,
		"constraints": ccs.GetNbConstraints(), "warning": "one-party setup: whoever ran it can forge proofs"})
}

func runCeremony(args []string) error {
	if len(args) < 1 {
		usage()
	}
	fs := flag.NewFlagSet("ceremony "+args[0], flag.ContinueOnError)
	name := circuitFlag(fs)
	power := fs.Int("power", 16, "phase 1 supports circuits of up to 2^power constraints")
	in := fs.String("in", "", "previous transcript")
	out := fs.String("out", "", "next transcript (or sealed output)")
	srs := fs.String("srs", "", "sealed phase-1 parameters")
	beaconHex := fs.String("beacon", "", "public randomness chosen after the last contribution (hex)")
	pkOut := fs.String("pk", "", "proving key output")
	vkOut := fs.String("vk", "", "verifying key output")
	parse(fs, args[1:])
	beacon, err := hex.DecodeString(*beaconHex)
	if err != nil {
		return fmt.Errorf("beacon must be hex: %w", err)
	}
	t := time.Now()
	var hash string
	switch args[0] {
	case "phase1-new":
		hash, err = ceremony.Phase1New(*power, *out)
	case "phase1-contribute":
		hash, err = ceremony.Phase1Contribute(*in, *out)
	case "phase1-seal":
		hash, err = ceremony.Phase1Seal(*power, beacon, *out, fs.Args()...)
	case "phase2-new":
		hash, err = ceremony.Phase2New(*name, *srs, *out)
	case "phase2-contribute":
		hash, err = ceremony.Phase2Contribute(*in, *out)
	case "phase2-seal":
		var vkHash string
		hash, vkHash, err = ceremony.Phase2Seal(*name, *srs, beacon, *pkOut, *vkOut, fs.Args()...)
		if err == nil {
			return emit(map[string]any{"pk_sha256": hash, "vk_sha256": vkHash, "seconds": time.Since(t).Seconds()})
		}
	default:
		return fmt.Errorf("unknown ceremony step %q", args[0])
	}
	if err != nil {
		return err
	}
	return emit(map[string]any{"sha256": hash, "seconds": time.Since(t).Seconds()})
}
