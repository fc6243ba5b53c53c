// Command libhourglass_bn254 is the executor's native BN254 backend: a C shared library (built with
// `go build -buildmode=c-shared`, see build.sh) that hourglass_executor.signing.bn254 loads with
// ctypes. The curve arithmetic, the RFC 9380 hash-to-G1 and the pairing are gnark-crypto's, the
// library crypto-libs (the Go executor's signing code) uses, so signatures and byte formats match it.
//
// Conventions of every exported function:
//   - points are gnark `Marshal` bytes: G1 64 bytes X‖Y, G2 128 bytes X.A1‖X.A0‖Y.A1‖Y.A0 (big-endian
//     field elements); a private key is a 32-byte big-endian scalar in [1, r-1];
//   - the caller passes buffers of exactly those sizes (the Python wrapper checks lengths);
//   - the result is 0 (or 1/0 for the checks) on success, a negative errXxx code otherwise; outputs
//     are written only on success. Nothing here keeps state between calls, so calls may run
//     concurrently (ctypes releases the GIL).
package main

// #include <stddef.h>
// #include <stdint.h>
import "C"

import (
	"math/big"
	"unsafe"

	"github.com/consensys/gnark-crypto/ecc/bn254"
	"github.com/consensys/gnark-crypto/ecc/bn254/fp"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// abiVersion changes whenever an exported signature or error code changes; the Python loader
// refuses a library with another version (a stale cached build).
const abiVersion = 1

const (
	errPrivateKey = -1 // not a scalar in [1, r-1]
	errG1         = -2 // not a canonical G1 encoding of a point on the curve
	errG2         = -3 // not a canonical G2 encoding of a point on the curve and in the subgroup
	errHash       = -4 // hashing to the curve failed
	errEmpty      = -5 // nothing to aggregate
)

const (
	g1Size     = 64
	g2Size     = 128
	scalarSize = 32
	hashSize   = 32
)

// DST is the domain separation tag crypto-libs passes to HashToG1 for BN254 signatures.
var dst = []byte("BLS_SIG_BN254G1_XMD:SHA-256_SSWU_RO_NUL_")

var (
	g1Generator bn254.G1Affine
	g2Generator bn254.G2Affine
	// sqrtExponent is (p+1)/4: y = beta^((p+1)/4) is a square root of beta when one exists (p ≡ 3 mod 4).
	sqrtExponent *big.Int
)

func init() {
	_, _, g1Generator, g2Generator = bn254.Generators()
	sqrtExponent = new(big.Int).Add(fp.Modulus(), big.NewInt(1))
	sqrtExponent.Rsh(sqrtExponent, 2)
}

func bytesOf(pointer *C.uint8_t, size int) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(pointer)), size)
}

func privateKey(pointer *C.uint8_t) (*big.Int, bool) {
	scalar := new(big.Int).SetBytes(bytesOf(pointer, scalarSize))
	return scalar, scalar.Sign() > 0 && scalar.Cmp(fr.Modulus()) < 0
}

// g1 decodes an uncompressed G1 point. On BN254 G1 every curve point is in the subgroup (cofactor 1),
// which gnark's SetBytes checks; the point at infinity is all zeros.
func g1(buffer []byte) (bn254.G1Affine, bool) {
	var point bn254.G1Affine
	if buffer[0]&0xC0 != 0 { // a compression flag: Marshal never sets one
		return point, false
	}
	_, err := point.SetBytes(buffer)
	return point, err == nil
}

func g2(buffer []byte) (bn254.G2Affine, bool) {
	var point bn254.G2Affine
	if buffer[0]&0xC0 != 0 {
		return point, false
	}
	_, err := point.SetBytes(buffer)
	return point, err == nil
}

func put(pointer *C.uint8_t, data []byte) {
	copy(bytesOf(pointer, len(data)), data)
}

// solidityHashToG1 is the try-and-increment map of EigenLayer's BN254.sol `hashToG1`: x = hash mod p,
// then x+1, x+2, ... until x^3+3 has the square root beta^((p+1)/4); the point is (x, that root).
func solidityHashToG1(hash []byte) bn254.G1Affine {
	var x, beta, y, check, three fp.Element
	x.SetBigInt(new(big.Int).SetBytes(hash)) // reduces mod p
	three.SetUint64(3)
	for {
		beta.Square(&x).Mul(&beta, &x).Add(&beta, &three)
		y.Exp(beta, sqrtExponent)
		if check.Square(&y).Equal(&beta) {
			return bn254.G1Affine{X: x, Y: y}
		}
		x.Add(&x, new(fp.Element).SetOne())
	}
}

func standardHashToG1(message []byte) (bn254.G1Affine, bool) {
	point, err := bn254.HashToG1(message, dst)
	return point, err == nil
}

// verifyPoint checks e(signature, G2) == e(hash, publicKey) as one product of two pairings.
func verifyPoint(publicKey *C.uint8_t, hash bn254.G1Affine, signature *C.uint8_t) C.int {
	key, ok := g2(bytesOf(publicKey, g2Size))
	if !ok {
		return errG2
	}
	sig, ok := g1(bytesOf(signature, g1Size))
	if !ok {
		return errG1
	}
	if key.IsInfinity() {
		return 0 // every signature "verifies" against the zero key: never accept it
	}
	var negatedHash bn254.G1Affine
	negatedHash.Neg(&hash)
	valid, err := bn254.PairingCheck([]bn254.G1Affine{sig, negatedHash}, []bn254.G2Affine{g2Generator, key})
	if err != nil || !valid {
		return 0
	}
	return 1
}

//export hg_bn254_abi_version
func hg_bn254_abi_version() C.int { return abiVersion }

//export hg_bn254_public_keys
func hg_bn254_public_keys(secret *C.uint8_t, g1Out *C.uint8_t, g2Out *C.uint8_t) C.int {
	scalar, ok := privateKey(secret)
	if !ok {
		return errPrivateKey
	}
	var p1 bn254.G1Affine
	var p2 bn254.G2Affine
	p1.ScalarMultiplication(&g1Generator, scalar)
	p2.ScalarMultiplication(&g2Generator, scalar)
	put(g1Out, p1.Marshal())
	put(g2Out, p2.Marshal())
	return 0
}

func signPoint(secret *C.uint8_t, hash bn254.G1Affine, out *C.uint8_t) C.int {
	scalar, ok := privateKey(secret)
	if !ok {
		return errPrivateKey
	}
	var signature bn254.G1Affine
	signature.ScalarMultiplication(&hash, scalar)
	put(out, signature.Marshal())
	return 0
}

//export hg_bn254_sign
func hg_bn254_sign(secret *C.uint8_t, message *C.uint8_t, length C.size_t, out *C.uint8_t) C.int {
	hash, ok := standardHashToG1(bytesOf(message, int(length)))
	if !ok {
		return errHash
	}
	return signPoint(secret, hash, out)
}

//export hg_bn254_sign_solidity
func hg_bn254_sign_solidity(secret *C.uint8_t, messageHash *C.uint8_t, out *C.uint8_t) C.int {
	return signPoint(secret, solidityHashToG1(bytesOf(messageHash, hashSize)), out)
}

//export hg_bn254_verify
func hg_bn254_verify(publicKey *C.uint8_t, message *C.uint8_t, length C.size_t, signature *C.uint8_t) C.int {
	hash, ok := standardHashToG1(bytesOf(message, int(length)))
	if !ok {
		return errHash
	}
	return verifyPoint(publicKey, hash, signature)
}

//export hg_bn254_verify_solidity
func hg_bn254_verify_solidity(publicKey *C.uint8_t, messageHash *C.uint8_t, signature *C.uint8_t) C.int {
	return verifyPoint(publicKey, solidityHashToG1(bytesOf(messageHash, hashSize)), signature)
}

//export hg_bn254_hash_to_g1
func hg_bn254_hash_to_g1(message *C.uint8_t, length C.size_t, out *C.uint8_t) C.int {
	hash, ok := standardHashToG1(bytesOf(message, int(length)))
	if !ok {
		return errHash
	}
	put(out, hash.Marshal())
	return 0
}

//export hg_bn254_hash_to_g1_solidity
func hg_bn254_hash_to_g1_solidity(messageHash *C.uint8_t, out *C.uint8_t) C.int {
	hash := solidityHashToG1(bytesOf(messageHash, hashSize))
	put(out, hash.Marshal())
	return 0
}

//export hg_bn254_check_g1
func hg_bn254_check_g1(point *C.uint8_t) C.int {
	if _, ok := g1(bytesOf(point, g1Size)); !ok {
		return errG1
	}
	return 0
}

//export hg_bn254_check_g2
func hg_bn254_check_g2(point *C.uint8_t) C.int {
	if _, ok := g2(bytesOf(point, g2Size)); !ok {
		return errG2
	}
	return 0
}

//export hg_bn254_aggregate_g1
func hg_bn254_aggregate_g1(points *C.uint8_t, count C.size_t, out *C.uint8_t) C.int {
	if count == 0 {
		return errEmpty
	}
	var sum bn254.G1Jac // the zero value is the point at infinity
	buffer := bytesOf(points, int(count)*g1Size)
	for offset := 0; offset < len(buffer); offset += g1Size {
		point, ok := g1(buffer[offset : offset+g1Size])
		if !ok {
			return errG1
		}
		sum.AddMixed(&point)
	}
	var result bn254.G1Affine
	result.FromJacobian(&sum)
	put(out, result.Marshal())
	return 0
}

//export hg_bn254_aggregate_g2
func hg_bn254_aggregate_g2(points *C.uint8_t, count C.size_t, out *C.uint8_t) C.int {
	if count == 0 {
		return errEmpty
	}
	var sum bn254.G2Jac // the zero value is the point at infinity
	buffer := bytesOf(points, int(count)*g2Size)
	for offset := 0; offset < len(buffer); offset += g2Size {
		point, ok := g2(buffer[offset : offset+g2Size])
		if !ok {
			return errG2
		}
		sum.AddMixed(&point)
	}
	var result bn254.G2Affine
	result.FromJacobian(&sum)
	put(out, result.Marshal())
	return 0
}

func main() {}
