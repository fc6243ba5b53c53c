package main

// The byte layouts the Hourglass signatures cover, built here from the upstream contract's
// description (docs: shared reference §4/§5) with go-ethereum's ABI encoder and keccak256, so that
// the Python layouts are checked against an independent construction.

import (
	"encoding/binary"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

func word(value uint64) []byte {
	out := make([]byte, 32)
	binary.BigEndian.PutUint64(out[24:], value)
	return out
}

func mustType(name string) abi.Type {
	typ, err := abi.NewType(name, "", nil)
	if err != nil {
		panic(err)
	}
	return typ
}

func pack(types []string, values ...interface{}) []byte {
	arguments := abi.Arguments{}
	for _, name := range types {
		arguments = append(arguments, abi.Argument{Type: mustType(name)})
	}
	out, err := arguments.Pack(values...)
	if err != nil {
		panic(err)
	}
	return out
}

// aggregatorMessage: taskId(32) ‖ avs(32) ‖ executor(32) ‖ operatorSetId(32) ‖ referenceTimestamp(32)
// ‖ taskBlockNumber(32) ‖ keccak256(payload) — 224 bytes, the TaskSubmission signature's message.
func aggregatorMessage(taskID common.Hash, avs, executor common.Address, operatorSetID, referenceTimestamp uint32, blockNumber uint64, payload []byte) []byte {
	return pack(
		[]string{"bytes32", "address", "address", "uint32", "uint32", "uint64", "bytes32"},
		taskID, avs, executor, operatorSetID, referenceTimestamp, blockNumber, crypto.Keccak256Hash(payload),
	)
}

// resultMessageHash: keccak256(abi.encode(bytes32 taskId, bytes output)) (TaskMailbox.getMessageHash).
func resultMessageHash(taskID common.Hash, output []byte) common.Hash {
	return crypto.Keccak256Hash(pack([]string{"bytes32", "bytes"}, taskID, output))
}

func certificateStructHash(typeString string, referenceTimestamp uint32, messageHash common.Hash) common.Hash {
	return crypto.Keccak256Hash(pack(
		[]string{"bytes32", "uint32", "bytes32"},
		crypto.Keccak256Hash([]byte(typeString)), referenceTimestamp, messageHash,
	))
}

// ecdsaCertificateDigestBytes: 0x1901 ‖ domainSeparator ‖ structHash (66 bytes, what
// ECDSACertificateVerifier.calculateCertificateDigestBytes returns; signed as its keccak256).
func ecdsaCertificateDigestBytes(domainSeparator common.Hash, referenceTimestamp uint32, messageHash common.Hash) []byte {
	structHash := certificateStructHash("ECDSACertificate(uint32 referenceTimestamp,bytes32 messageHash)", referenceTimestamp, messageHash)
	out := append([]byte{0x19, 0x01}, domainSeparator.Bytes()...)
	return append(out, structHash.Bytes()...)
}

// bn254CertificateDigest: BN254CertificateVerifier.calculateCertificateDigest (no EIP-712 domain).
func bn254CertificateDigest(referenceTimestamp uint32, messageHash common.Hash) common.Hash {
	return certificateStructHash("BN254Certificate(uint32 referenceTimestamp,bytes32 messageHash)", referenceTimestamp, messageHash)
}

// ecdsaDomainSeparator: the ECDSACertificateVerifier's EIP-712 domain — no chainId, the version is
// the major version character only.
func ecdsaDomainSeparator(majorVersion string, verifier common.Address) common.Hash {
	return crypto.Keccak256Hash(pack(
		[]string{"bytes32", "bytes32", "bytes32", "address"},
		crypto.Keccak256Hash([]byte("EIP712Domain(string name,string version,address verifyingContract)")),
		crypto.Keccak256Hash([]byte("EigenLayer")),
		crypto.Keccak256Hash([]byte(majorVersion)),
		verifier,
	))
}

// authMessage: taskId(32) ‖ avs(32) ‖ operator(32) ‖ operatorSetId(32) ‖ keccak256(resultSignature)
// — 160 bytes, the TaskResult auth signature's message.
func authMessage(taskID common.Hash, avs, operator common.Address, operatorSetID uint32, resultSignature []byte) []byte {
	return pack(
		[]string{"bytes32", "address", "address", "uint32", "bytes32"},
		taskID, avs, operator, operatorSetID, crypto.Keccak256Hash(resultSignature),
	)
}

// challengeMessage: what the Go management client passes to its signer's SignMessage (which
// hashes it once more): keccak256(utf8(token)).
func challengeMessage(token string) []byte {
	return crypto.Keccak256([]byte(token))
}

func decimal(value *big.Int) string { return value.String() }
