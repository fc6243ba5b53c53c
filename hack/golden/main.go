// Command golden writes the golden vectors the executor's Python signing code is checked against
// (tests/unit/executor/test_golden_vectors.py), computed by the Go code the Go executor runs:
// github.com/Layr-Labs/crypto-libs v0.0.4 (BN254 on gnark-crypto, ECDSA on go-ethereum, EIP-2335
// keystores) and go-ethereum's v3 keystores, over the byte layouts of the upstream contract.
//
//	golden -write FILE   write fresh vectors (keystores get fresh random salts)
//	golden -check FILE   recompute every deterministic vector and compare with FILE exactly;
//	                     decrypt FILE's keystores with the Go libraries and compare their keys
//
// hack/golden/golden.sh builds it (cached) and runs it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
)

// Vectors is the file's content; every byte string is lower-case hex without 0x.
type Vectors struct {
	Comment   string            `json:"comment"`
	Generator string            `json:"generator"`
	BN254     BN254Vectors      `json:"bn254"`
	ECDSA     ECDSAVectors      `json:"ecdsa"`
	Layouts   []LayoutVector    `json:"layouts"`
	Challenge []ChallengeVector `json:"challenges"`
	Keystores KeystoreVectors   `json:"keystores"`
}

func deterministic(v *Vectors) Vectors {
	copied := *v
	copied.Keystores = KeystoreVectors{}
	return copied
}

func main() {
	write := flag.String("write", "", "write fresh vectors to this file")
	check := flag.String("check", "", "check the vectors in this file")
	flag.Parse()
	if (*write == "") == (*check == "") {
		fmt.Fprintln(os.Stderr, "usage: golden -write FILE | -check FILE")
		os.Exit(2)
	}
	fresh, err := build()
	if err != nil {
		fail(err)
	}
	if *write != "" {
		if fresh.Keystores, err = buildKeystores(); err != nil {
			fail(err)
		}
		if err := os.WriteFile(*write, encode(fresh), 0o644); err != nil {
			fail(err)
		}
		return
	}
	content, err := os.ReadFile(*check)
	if err != nil {
		fail(err)
	}
	var committed Vectors
	decoder := json.NewDecoder(bytes.NewReader(content))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&committed); err != nil {
		fail(fmt.Errorf("%s: %w", *check, err))
	}
	if want, got := deterministic(fresh), deterministic(&committed); !reflect.DeepEqual(want, got) {
		fail(fmt.Errorf("%s: the deterministic vectors differ from what crypto-libs computes now:\n%s", *check, firstDifference(encode(&want), encode(&got))))
	}
	if err := checkKeystores(committed.Keystores); err != nil {
		fail(fmt.Errorf("%s: %w", *check, err))
	}
	fmt.Printf("%s: every vector reproduced by crypto-libs v0.0.4 and go-ethereum\n", *check)
}

func encode(v interface{}) []byte {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(out, '\n')
}

func firstDifference(want, got []byte) string {
	wantLines, gotLines := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wantLines) && i < len(gotLines); i++ {
		if !bytes.Equal(wantLines[i], gotLines[i]) {
			return fmt.Sprintf("line %d: computed %s\n        file has %s", i+1, wantLines[i], gotLines[i])
		}
	}
	return fmt.Sprintf("computed %d lines, the file has %d", len(wantLines), len(gotLines))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "golden:", err)
	os.Exit(1)
}
