package main

import (
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/Layr-Labs/crypto-libs/pkg/bn254"
	"github.com/Layr-Labs/crypto-libs/pkg/ecdsa"
	gnark "github.com/consensys/gnark-crypto/ecc/bn254"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

const dst = "BLS_SIG_BN254G1_XMD:SHA-256_SSWU_RO_NUL_"

type SolidityG1 struct {
	X string `json:"x"`
	Y string `json:"y"`
}

// SolidityG2 is BN254.G2Point{X[2], Y[2]}: X[0], Y[0] the imaginary parts (decimal strings).
type SolidityG2 struct {
	X [2]string `json:"x"`
	Y [2]string `json:"y"`
}

type BN254Key struct {
	PrivateKey string     `json:"privateKey"` // 32 bytes, big-endian
	G1         string     `json:"g1"`
	G2         string     `json:"g2"`
	SolidityG1 SolidityG1 `json:"solidityG1"`
	SolidityG2 SolidityG2 `json:"solidityG2"`
}

type BN254Signature struct {
	Key       int    `json:"key"` // index into keys
	Message   string `json:"message"`
	Signature string `json:"signature"`
}

type HashToG1 struct {
	Message string `json:"message"`
	Point   string `json:"point"`
}

type VerifyCase struct {
	Case      string `json:"case"`
	Scheme    string `json:"scheme"` // "standard" (Verify) or "solidity" (VerifySolidityCompatible)
	PublicKey string `json:"publicKeyG2"`
	Message   string `json:"message"`
	Signature string `json:"signature"`
	Valid     bool   `json:"valid"`
}

type Aggregation struct {
	Keys                 []int    `json:"keys"`
	MessageHash          string   `json:"messageHash"`
	Signatures           []string `json:"signatures"`
	AggregateSignature   string   `json:"aggregateSignature"`
	AggregatePublicKeyG1 string   `json:"aggregatePublicKeyG1"`
	AggregatePublicKeyG2 string   `json:"aggregatePublicKeyG2"`
	BatchVerified        bool     `json:"batchVerified"`
}

type BN254Vectors struct {
	DST                string           `json:"dst"`
	Keys               []BN254Key       `json:"keys"`
	HashToG1           []HashToG1       `json:"hashToG1"`
	SolidityHashToG1   []HashToG1       `json:"solidityHashToG1"`
	Signatures         []BN254Signature `json:"signatures"`
	SoliditySignatures []BN254Signature `json:"soliditySignatures"`
	Verify             []VerifyCase     `json:"verify"`
	Aggregation        Aggregation      `json:"aggregation"`
}

type ECDSAKey struct {
	PrivateKey string `json:"privateKey"`
	Address    string `json:"address"`
}

type ECDSASignature struct {
	Key       int    `json:"key"`
	Digest    string `json:"digest"`
	Signature string `json:"signature"`
}

type ECDSAVectors struct {
	Keys       []ECDSAKey       `json:"keys"`
	Signatures []ECDSASignature `json:"signatures"`
}

// LayoutVector is one task through the §5 layouts: the aggregator's submission signature, the
// executor's result (certificate) signature and auth signature, on both curves.
type LayoutVector struct {
	TaskID             string `json:"taskId"`
	Avs                string `json:"avs"`
	Executor           string `json:"executor"` // the executor's operator address
	OperatorSetID      uint32 `json:"operatorSetId"`
	ReferenceTimestamp uint32 `json:"referenceTimestamp"`
	TaskBlockNumber    uint64 `json:"taskBlockNumber"`
	Payload            string `json:"payload"`
	AggregatorECDSAKey int    `json:"aggregatorEcdsaKey"`
	AggregatorBN254Key int    `json:"aggregatorBn254Key"`
	ExecutorECDSAKey   int    `json:"executorEcdsaKey"`
	ExecutorBN254Key   int    `json:"executorBn254Key"`

	SubmissionMessage        string `json:"submissionMessage"`
	SubmissionDigest         string `json:"submissionDigest"`
	SubmissionSignatureECDSA string `json:"submissionSignatureEcdsa"`
	SubmissionSignatureBN254 string `json:"submissionSignatureBn254"`

	Output      string `json:"output"`
	MessageHash string `json:"messageHash"`

	DomainVerifier     string `json:"domainVerifier"`
	DomainMajorVersion string `json:"domainMajorVersion"`
	DomainSeparator    string `json:"domainSeparator"`

	ECDSACertificateDigestBytes string `json:"ecdsaCertificateDigestBytes"`
	ECDSACertificateDigest      string `json:"ecdsaCertificateDigest"`
	ECDSAResultSignature        string `json:"ecdsaResultSignature"`
	ECDSAAuthMessage            string `json:"ecdsaAuthMessage"`
	ECDSAAuthSignature          string `json:"ecdsaAuthSignature"`

	BN254CertificateDigest string `json:"bn254CertificateDigest"`
	BN254ResultSignature   string `json:"bn254ResultSignature"`
	BN254AuthMessage       string `json:"bn254AuthMessage"`
	BN254AuthSignature     string `json:"bn254AuthSignature"`
}

// ChallengeVector is a management challenge as the Go client signs it: SignMessage(keccak256(token)),
// which hashes once more.
type ChallengeVector struct {
	Token          string `json:"token"`
	Message        string `json:"message"` // keccak256(token), what the client passes to SignMessage
	Digest         string `json:"digest"`  // keccak256(message), what is signed
	ECDSAKey       int    `json:"ecdsaKey"`
	ECDSASignature string `json:"ecdsaSignature"`
	BN254Key       int    `json:"bn254Key"`
	BN254Signature string `json:"bn254Signature"`
}

func h(data []byte) string { return hex.EncodeToString(data) }

// --- the Go executor's in-memory signer, per curve (ponos pkg/signer/inMemorySigner semantics) -------

// signMessage: SignMessage(data) signs keccak256(data) (BN254: the standard hash-to-G1).
func signMessageECDSA(key *ecdsa.PrivateKey, data []byte) []byte {
	signature, err := key.Sign(crypto.Keccak256(data))
	check(err)
	return signature.Bytes()
}

func signMessageBN254(key *bn254.PrivateKey, data []byte) []byte {
	signature, err := key.Sign(crypto.Keccak256(data))
	check(err)
	return signature.Bytes()
}

// signMessageForSolidity: a 32-byte input is signed as is, anything else as its keccak256; BN254 uses
// the BN254.sol hash-to-G1.
func solidityHash(data []byte) [32]byte {
	var hash [32]byte
	if len(data) == 32 {
		copy(hash[:], data)
	} else {
		copy(hash[:], crypto.Keccak256(data))
	}
	return hash
}

func signForSolidityECDSA(key *ecdsa.PrivateKey, data []byte) []byte {
	hash := solidityHash(data)
	signature, err := key.Sign(hash[:])
	check(err)
	return signature.Bytes()
}

func signForSolidityBN254(key *bn254.PrivateKey, data []byte) []byte {
	signature, err := key.SignSolidityCompatible(solidityHash(data))
	check(err)
	return signature.Bytes()
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}

// --- keys ---------------------------------------------------------------------------------------------

func scalarFromLabel(label string) *big.Int {
	value := new(big.Int).SetBytes(crypto.Keccak256([]byte(label)))
	return value.Mod(value, fr.Modulus())
}

// bn254Scalars: 1, two derived keys, one whose big-endian form has a leading zero byte (crypto-libs
// stores it as 31 bytes), and r-1.
func bn254Scalars() []*big.Int {
	short := scalarFromLabel("hourglass golden bn254 short key")
	short.Rsh(short, 16) // < 2^238: Bytes() is shorter than 32
	return []*big.Int{
		big.NewInt(1),
		scalarFromLabel("hourglass golden bn254 key 1"),
		scalarFromLabel("hourglass golden bn254 key 2"),
		short,
		new(big.Int).Sub(fr.Modulus(), big.NewInt(1)),
	}
}

func bn254Key(scalar *big.Int) *bn254.PrivateKey {
	key, err := bn254.NewPrivateKeyFromBytes(scalar.Bytes()) // as crypto-libs generates keys
	check(err)
	return key
}

func padded(scalar *big.Int) string { return h(common.LeftPadBytes(scalar.Bytes(), 32)) }

func bn254KeyVector(scalar *big.Int) BN254Key {
	public := bn254Key(scalar).Public()
	g1, g2 := public.GetG1Point(), public.GetG2Point()
	var x, y, xa0, xa1, ya0, ya1 big.Int
	g1.X.BigInt(&x)
	g1.Y.BigInt(&y)
	g2.X.A0.BigInt(&xa0)
	g2.X.A1.BigInt(&xa1)
	g2.Y.A0.BigInt(&ya0)
	g2.Y.A1.BigInt(&ya1)
	vector := BN254Key{
		PrivateKey: padded(scalar),
		G1:         h(g1.Marshal()),
		G2:         h(g2.Marshal()),
		SolidityG1: SolidityG1{decimal(&x), decimal(&y)},
		SolidityG2: SolidityG2{[2]string{decimal(&xa1), decimal(&xa0)}, [2]string{decimal(&ya1), decimal(&ya0)}},
	}
	// The Solidity view must be what crypto-libs reads back from a KeyRegistrar answer.
	fromSolidity, err := bn254.NewPublicKeyFromSolidity(
		&bn254.SolidityBN254G1Point{X: &x, Y: &y},
		&bn254.SolidityBN254G2Point{X: [2]*big.Int{&xa1, &xa0}, Y: [2]*big.Int{&ya1, &ya0}},
	)
	check(err)
	if h(fromSolidity.GetG1Point().Marshal()) != vector.G1 || h(fromSolidity.Bytes()) != vector.G2 {
		panic("the Solidity view does not round-trip through crypto-libs")
	}
	return vector
}

func ecdsaKeys() []*ecdsa.PrivateKey {
	var keys []*ecdsa.PrivateKey
	for _, text := range []string{
		"ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", // anvil account 0
		"59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d", // anvil account 1
		h(common.LeftPadBytes(scalarFromLabel("hourglass golden ecdsa key").Bytes(), 32)),
	} {
		key, err := ecdsa.NewPrivateKeyFromHexString(text)
		check(err)
		keys = append(keys, key)
	}
	return keys
}

func ecdsaKeyVector(key *ecdsa.PrivateKey) ECDSAKey {
	address, err := key.DeriveAddress()
	check(err)
	return ECDSAKey{PrivateKey: h(common.LeftPadBytes(key.Bytes(), 32)), Address: address.Hex()}
}

// --- the vectors --------------------------------------------------------------------------------------

func messages() [][]byte {
	long := make([]byte, 300)
	for i := range long {
		long[i] = byte(i * 7)
	}
	return [][]byte{{}, []byte("hourglass"), make([]byte, 32), crypto.Keccak256([]byte("task")), long}
}

func messageHashes() [][32]byte {
	var zero, ones, aboveP [32]byte
	for i := range ones {
		ones[i] = 0xff
	}
	new(big.Int).Add(bn254.FieldModulus, big.NewInt(7)).FillBytes(aboveP[:])
	return [][32]byte{zero, ones, aboveP, crypto.Keccak256Hash([]byte("certificate")), crypto.Keccak256Hash([]byte("another"))}
}

func buildBN254() BN254Vectors {
	scalars := bn254Scalars()
	vectors := BN254Vectors{DST: dst}
	keys := make([]*bn254.PrivateKey, len(scalars))
	for i, scalar := range scalars {
		keys[i] = bn254Key(scalar)
		vectors.Keys = append(vectors.Keys, bn254KeyVector(scalar))
	}
	for _, message := range messages() {
		point, err := gnark.HashToG1(message, []byte(dst)) // crypto-libs' hashToG1
		check(err)
		vectors.HashToG1 = append(vectors.HashToG1, HashToG1{h(message), h(point.Marshal())})
	}
	for _, hash := range messageHashes() {
		point, err := bn254.SolidityHashToG1(hash)
		check(err)
		vectors.SolidityHashToG1 = append(vectors.SolidityHashToG1, HashToG1{h(hash[:]), h(point.Marshal())})
	}
	for i, key := range keys {
		for _, message := range messages() {
			signature, err := key.Sign(message)
			check(err)
			vectors.Signatures = append(vectors.Signatures, BN254Signature{i, h(message), h(signature.Bytes())})
		}
		for _, hash := range messageHashes() {
			signature, err := key.SignSolidityCompatible(hash)
			check(err)
			vectors.SoliditySignatures = append(vectors.SoliditySignatures, BN254Signature{i, h(hash[:]), h(signature.Bytes())})
		}
	}
	vectors.Verify = verifyCases(keys)
	vectors.Aggregation = aggregation(keys[1:4])
	return vectors
}

func verifyCases(keys []*bn254.PrivateKey) []VerifyCase {
	message, other := []byte("verify me"), []byte("verify me not")
	hash, otherHash := crypto.Keccak256Hash(message), crypto.Keccak256Hash(other)
	standard := func(key *bn254.PrivateKey, m []byte) *bn254.Signature {
		signature, err := key.Sign(m)
		check(err)
		return signature
	}
	solidity := func(key *bn254.PrivateKey, m [32]byte) *bn254.Signature {
		signature, err := key.SignSolidityCompatible(m)
		check(err)
		return signature
	}
	type input struct {
		name      string
		scheme    string
		key       *bn254.PrivateKey
		message   []byte
		signature *bn254.Signature
	}
	a, b := keys[1], keys[2]
	inputs := []input{
		{"valid", "standard", a, message, standard(a, message)},
		{"another message", "standard", a, other, standard(a, message)},
		{"another key", "standard", b, message, standard(a, message)},
		{"a solidity signature", "standard", a, hash[:], solidity(a, hash)},
		{"valid", "solidity", a, hash[:], solidity(a, hash)},
		{"another hash", "solidity", a, otherHash[:], solidity(a, hash)},
		{"another key", "solidity", b, hash[:], solidity(a, hash)},
		{"a standard signature", "solidity", a, hash[:], standard(a, hash[:])},
		{"the negated signature", "solidity", a, hash[:], negate(solidity(a, hash))},
	}
	var cases []VerifyCase
	for _, in := range inputs {
		public := in.key.Public()
		var valid bool
		var err error
		if in.scheme == "standard" {
			valid, err = in.signature.Verify(public, in.message)
		} else {
			var digest [32]byte
			copy(digest[:], in.message)
			valid, err = in.signature.VerifySolidityCompatible(public, digest)
		}
		check(err)
		cases = append(cases, VerifyCase{in.name, in.scheme, h(public.Bytes()), h(in.message), h(in.signature.Bytes()), valid})
	}
	return cases
}

func negate(signature *bn254.Signature) *bn254.Signature {
	var point gnark.G1Affine
	point.Neg(signature.GetG1Point())
	negated, err := bn254.NewSignatureFromBytes(point.Marshal())
	check(err)
	return negated
}

func aggregation(keys []*bn254.PrivateKey) Aggregation {
	hash := crypto.Keccak256Hash([]byte("one certificate, three operators"))
	var signatures []*bn254.Signature
	var publics []*bn254.PublicKey
	g1 := bn254.NewZeroG1Point()
	out := Aggregation{Keys: []int{1, 2, 3}, MessageHash: h(hash[:])}
	for _, key := range keys {
		signature, err := key.SignSolidityCompatible(hash)
		check(err)
		signatures = append(signatures, signature)
		out.Signatures = append(out.Signatures, h(signature.Bytes()))
		publics = append(publics, key.Public())
		g1.AddPublicKey(key.Public())
	}
	aggregate, err := bn254.AggregateSignatures(signatures)
	check(err)
	aggregateKey, err := bn254.AggregatePublicKeys(publics)
	check(err)
	verified, err := bn254.BatchVerifySolidityCompatible(publics, hash, signatures)
	check(err)
	out.AggregateSignature = h(aggregate.Bytes())
	out.AggregatePublicKeyG1 = h(g1.Marshal())
	out.AggregatePublicKeyG2 = h(aggregateKey.Bytes())
	out.BatchVerified = verified
	return out
}

func buildECDSA() (ECDSAVectors, []*ecdsa.PrivateKey) {
	keys := ecdsaKeys()
	var vectors ECDSAVectors
	for i, key := range keys {
		vectors.Keys = append(vectors.Keys, ecdsaKeyVector(key))
		for _, label := range []string{"digest one", "digest two"} {
			digest := crypto.Keccak256([]byte(label))
			signature, err := key.Sign(digest)
			check(err)
			vectors.Signatures = append(vectors.Signatures, ECDSASignature{i, h(digest), h(signature.Bytes())})
		}
	}
	return vectors, keys
}

type task struct {
	taskID        common.Hash
	avs, executor common.Address
	operatorSetID uint32
	timestamp     uint32
	blockNumber   uint64
	payload       []byte
	output        []byte
	verifier      common.Address
}

func tasks() []task {
	output33 := make([]byte, 33)
	for i := range output33 {
		output33[i] = byte(0xa0 + i)
	}
	return []task{
		{
			taskID: crypto.Keccak256Hash([]byte("task 1")), avs: common.HexToAddress("0x00000000000000000000000000000000000a5a5a"),
			executor: common.HexToAddress("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"), operatorSetID: 1,
			timestamp: 1_700_000_000, blockNumber: 12345, payload: []byte(`{"numberToBeSquared": 7}`),
			output: []byte{0x31}, verifier: common.HexToAddress("0x9A676e781A523b5d0C0e43731313A708CB607508"),
		},
		{
			taskID: crypto.Keccak256Hash([]byte("task 2")), avs: common.HexToAddress("0xC0FFEE254729296a45a3885639AC7E10F9d54979"),
			executor: common.HexToAddress("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"), operatorSetID: 0xffffffff,
			timestamp: 0xffffffff, blockNumber: 0xffffffffffffffff, payload: []byte{},
			output: []byte{}, verifier: common.HexToAddress("0x0000000000000000000000000000000000000001"),
		},
		{
			taskID: crypto.Keccak256Hash([]byte("task 3")), avs: common.HexToAddress("0x1111111111111111111111111111111111111111"),
			executor: common.HexToAddress("0x2222222222222222222222222222222222222222"), operatorSetID: 2,
			timestamp: 1_750_000_123, blockNumber: 1, payload: make([]byte, 1000),
			output: output33, verifier: common.HexToAddress("0xffffffffffffffffffffffffffffffffffffffff"),
		},
	}
}

func buildLayouts(ecdsaKeys []*ecdsa.PrivateKey, bn254Keys []*bn254.PrivateKey) []LayoutVector {
	const aggregatorECDSA, aggregatorBN254, executorECDSA, executorBN254 = 0, 1, 1, 2
	var out []LayoutVector
	for _, t := range tasks() {
		submission := aggregatorMessage(t.taskID, t.avs, t.executor, t.operatorSetID, t.timestamp, t.blockNumber, t.payload)
		if len(submission) != 224 {
			panic(fmt.Sprintf("submission message is %d bytes", len(submission)))
		}
		messageHash := resultMessageHash(t.taskID, t.output)
		domain := ecdsaDomainSeparator("1", t.verifier)
		ecdsaDigestBytes := ecdsaCertificateDigestBytes(domain, t.timestamp, messageHash)
		ecdsaResult := signForSolidityECDSA(ecdsaKeys[executorECDSA], ecdsaDigestBytes)
		ecdsaAuth := authMessage(t.taskID, t.avs, t.executor, t.operatorSetID, ecdsaResult)
		bn254Digest := bn254CertificateDigest(t.timestamp, messageHash)
		bn254Result := signForSolidityBN254(bn254Keys[executorBN254], bn254Digest[:])
		bn254Auth := authMessage(t.taskID, t.avs, t.executor, t.operatorSetID, bn254Result)
		out = append(out, LayoutVector{
			TaskID: t.taskID.Hex(), Avs: t.avs.Hex(), Executor: t.executor.Hex(),
			OperatorSetID: t.operatorSetID, ReferenceTimestamp: t.timestamp, TaskBlockNumber: t.blockNumber,
			Payload:            h(t.payload),
			AggregatorECDSAKey: aggregatorECDSA, AggregatorBN254Key: aggregatorBN254,
			ExecutorECDSAKey: executorECDSA, ExecutorBN254Key: executorBN254,

			SubmissionMessage:        h(submission),
			SubmissionDigest:         h(crypto.Keccak256(submission)),
			SubmissionSignatureECDSA: h(signMessageECDSA(ecdsaKeys[aggregatorECDSA], submission)),
			SubmissionSignatureBN254: h(signMessageBN254(bn254Keys[aggregatorBN254], submission)),

			Output: h(t.output), MessageHash: h(messageHash[:]),
			DomainVerifier: t.verifier.Hex(), DomainMajorVersion: "1", DomainSeparator: h(domain[:]),

			ECDSACertificateDigestBytes: h(ecdsaDigestBytes),
			ECDSACertificateDigest:      h(crypto.Keccak256(ecdsaDigestBytes)),
			ECDSAResultSignature:        h(ecdsaResult),
			ECDSAAuthMessage:            h(ecdsaAuth),
			ECDSAAuthSignature:          h(signMessageECDSA(ecdsaKeys[executorECDSA], ecdsaAuth)),

			BN254CertificateDigest: h(bn254Digest[:]),
			BN254ResultSignature:   h(bn254Result),
			BN254AuthMessage:       h(bn254Auth),
			BN254AuthSignature:     h(signMessageBN254(bn254Keys[executorBN254], bn254Auth)),
		})
	}
	return out
}

func buildChallenges(ecdsaKeys []*ecdsa.PrivateKey, bn254Keys []*bn254.PrivateKey) []ChallengeVector {
	var out []ChallengeVector
	for _, label := range []string{"challenge 1", "challenge 2"} {
		token := h(crypto.Keccak256([]byte(label))) // 64 lower-case hex digits, like the executor's tokens
		message := challengeMessage(token)
		out = append(out, ChallengeVector{
			Token: token, Message: h(message), Digest: h(crypto.Keccak256(message)),
			ECDSAKey: 1, ECDSASignature: h(signMessageECDSA(ecdsaKeys[1], message)),
			BN254Key: 2, BN254Signature: h(signMessageBN254(bn254Keys[2], message)),
		})
	}
	return out
}

func build() (*Vectors, error) {
	bn254Vectors := buildBN254()
	ecdsaVectors, ecdsaPrivateKeys := buildECDSA()
	var bn254Keys []*bn254.PrivateKey
	for _, scalar := range bn254Scalars() {
		bn254Keys = append(bn254Keys, bn254Key(scalar))
	}
	return &Vectors{
		Comment: "Generated by hack/golden (golden.sh); checked by tests/unit/executor/test_golden_vectors.py. " +
			"Byte strings are hex without 0x; keystores have random salts (checked by decrypting).",
		Generator: "github.com/Layr-Labs/crypto-libs v0.0.4, github.com/ethereum/go-ethereum v1.15.11",
		BN254:     bn254Vectors,
		ECDSA:     ecdsaVectors,
		Layouts:   buildLayouts(ecdsaPrivateKeys, bn254Keys),
		Challenge: buildChallenges(ecdsaPrivateKeys, bn254Keys),
	}, nil
}
