package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/Layr-Labs/crypto-libs/pkg/bls381"
	"github.com/Layr-Labs/crypto-libs/pkg/bn254"
	eip2335keystore "github.com/Layr-Labs/crypto-libs/pkg/keystore"
	"github.com/Layr-Labs/crypto-libs/pkg/signing"
	ethkeystore "github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/google/uuid"
)

// A keystore file as the Go tooling writes it, with what decrypting it must give.
type KeystoreVector struct {
	Name       string          `json:"name"`
	Curve      string          `json:"curve"` // bn254, bls381 (a key the BN254 loader must refuse) or ecdsa
	Password   string          `json:"password"`
	PrivateKey string          `json:"privateKey"`       // the secret, 32 bytes (BLS12-381: as stored)
	Public     string          `json:"public,omitempty"` // BN254: G2 public key; ECDSA: the address
	Keystore   json.RawMessage `json:"keystore"`
}

type KeystoreVectors struct {
	EIP2335 []KeystoreVector `json:"eip2335"`
	Web3V3  []KeystoreVector `json:"web3v3"`
}

// Light scrypt: the smallest N crypto-libs accepts, so that the tests decrypt quickly.
var light = &eip2335keystore.Options{ScryptN: 1024, ScryptR: 8, ScryptP: 1, KDFType: "scrypt"}

// A password that EIP-2335 processing changes: NFKD folds the mathematical letters and the
// half-width katakana, and the control characters (DEL, U+0001, U+0085) are dropped.
const unicodePassword = "𝔱𝔢𝔰𝔱 ﾊﾟｽﾜｰﾄﾞ\u007f\u0001\u0085🔑"

func eip2335(name string, key signing.PrivateKey, curve, password string, options *eip2335keystore.Options) KeystoreVector {
	file, err := eip2335keystore.GenerateKeystore(key, password, curve, options)
	check(err)
	content, err := json.Marshal(file)
	check(err)
	return KeystoreVector{
		Name: name, Curve: curve, Password: password,
		PrivateKey: h(common.LeftPadBytes(key.Bytes(), 32)), Public: h(key.Public().Bytes()), Keystore: content,
	}
}

func web3v3(name string, secret string, password string, scryptN, scryptP int) KeystoreVector {
	private, err := crypto.HexToECDSA(secret)
	check(err)
	id, err := uuid.NewRandom()
	check(err)
	key := &ethkeystore.Key{Id: id, Address: crypto.PubkeyToAddress(private.PublicKey), PrivateKey: private}
	content, err := ethkeystore.EncryptKey(key, password, scryptN, scryptP)
	check(err)
	return KeystoreVector{
		Name: name, Curve: "ecdsa", Password: password, PrivateKey: secret, Public: key.Address.Hex(), Keystore: content,
	}
}

func bn254SchemeKey(index int) signing.PrivateKey {
	key, err := bn254.NewScheme().NewPrivateKeyFromBytes(bn254Scalars()[index].Bytes())
	check(err)
	return key
}

func buildKeystores() (KeystoreVectors, error) {
	bls, err := bls381.NewScheme().NewPrivateKeyFromBytes(crypto.Keccak256([]byte("hourglass golden bls381 key"))[:31])
	if err != nil {
		return KeystoreVectors{}, err
	}
	ecdsaSecrets := ecdsaKeys()
	return KeystoreVectors{
		EIP2335: []KeystoreVector{
			eip2335("scrypt-light", bn254SchemeKey(1), "bn254", "hourglass-test-password", light),
			eip2335("pbkdf2", bn254SchemeKey(2), "bn254", "pbkdf2 password", &eip2335keystore.Options{KDFType: "pbkdf2"}),
			eip2335("short-key-unicode-password", bn254SchemeKey(3), "bn254", unicodePassword, light),
			eip2335("empty-password", bn254SchemeKey(4), "bn254", "", light),
			eip2335("scrypt-default", bn254SchemeKey(2), "bn254", "default scrypt parameters", eip2335keystore.Default()),
			eip2335("bls381", bls, "bls381", "bls381 password", light),
		},
		Web3V3: []KeystoreVector{
			web3v3("scrypt-light", h(ecdsaSecrets[1].D.FillBytes(make([]byte, 32))), "ecdsa password", ethkeystore.LightScryptN, ethkeystore.LightScryptP),
			web3v3("empty-password", h(ecdsaSecrets[2].D.FillBytes(make([]byte, 32))), "", ethkeystore.LightScryptN, ethkeystore.LightScryptP),
			web3v3("unicode-password", h(ecdsaSecrets[0].D.FillBytes(make([]byte, 32))), "pässwörd 🔑", ethkeystore.LightScryptN, ethkeystore.LightScryptP),
			web3v3("scrypt-standard", h(ecdsaSecrets[2].D.FillBytes(make([]byte, 32))), "standard scrypt parameters", ethkeystore.StandardScryptN, ethkeystore.StandardScryptP),
		},
	}, nil
}

// checkKeystores decrypts every committed keystore with the Go libraries.
func checkKeystores(vectors KeystoreVectors) error {
	if len(vectors.EIP2335) == 0 || len(vectors.Web3V3) == 0 {
		return fmt.Errorf("the file has no keystores")
	}
	for _, vector := range vectors.EIP2335 {
		file, err := eip2335keystore.ParseKeystoreJSON(string(vector.Keystore))
		if err != nil {
			return fmt.Errorf("EIP-2335 keystore %s: %w", vector.Name, err)
		}
		var secret, public []byte
		switch vector.Curve {
		case "bn254":
			key, err := file.GetBN254PrivateKey(vector.Password)
			if err != nil {
				return fmt.Errorf("EIP-2335 keystore %s: %w", vector.Name, err)
			}
			secret, public = key.Bytes(), key.Public().Bytes()
		case "bls381":
			key, err := file.GetBLS381PrivateKey(vector.Password)
			if err != nil {
				return fmt.Errorf("EIP-2335 keystore %s: %w", vector.Name, err)
			}
			secret, public = key.Bytes(), key.Public().Bytes()
		default:
			return fmt.Errorf("EIP-2335 keystore %s: curve %q", vector.Name, vector.Curve)
		}
		if h(common.LeftPadBytes(secret, 32)) != vector.PrivateKey || h(public) != vector.Public {
			return fmt.Errorf("EIP-2335 keystore %s does not hold the key the file names", vector.Name)
		}
		if _, err := file.GetBN254PrivateKey(vector.Password + "x"); err == nil || !strings.Contains(err.Error(), "invalid password") {
			return fmt.Errorf("EIP-2335 keystore %s: a wrong password was not refused (%v)", vector.Name, err)
		}
	}
	for _, vector := range vectors.Web3V3 {
		key, err := ethkeystore.DecryptKey(vector.Keystore, vector.Password)
		if err != nil {
			return fmt.Errorf("v3 keystore %s: %w", vector.Name, err)
		}
		if hex.EncodeToString(crypto.FromECDSA(key.PrivateKey)) != vector.PrivateKey || key.Address.Hex() != vector.Public {
			return fmt.Errorf("v3 keystore %s does not hold the key the file names", vector.Name)
		}
		if _, err := ethkeystore.DecryptKey(vector.Keystore, vector.Password+"x"); err != ethkeystore.ErrDecrypt {
			return fmt.Errorf("v3 keystore %s: a wrong password was not refused (%v)", vector.Name, err)
		}
	}
	return nil
}
