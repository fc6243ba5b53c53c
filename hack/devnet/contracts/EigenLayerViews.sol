// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

// The parts of the EigenLayer core interfaces (eigenlayer-contracts, the version the Go executor
// pins) that the devnet's own contracts call, declared here so that they compile on their own.
// Struct layouts are ABI facts: they must stay identical to the core contracts' ones.

struct OperatorSet {
    address avs;
    uint32 id;
}

struct G1Point {
    uint256 X;
    uint256 Y;
}

// X[0] / Y[0] hold the imaginary parts, as the core's BN254 library orders them.
struct G2Point {
    uint256[2] X;
    uint256[2] Y;
}

struct BN254OperatorInfo {
    G1Point pubkey;
    uint256[] weights;
}

struct BN254OperatorSetInfo {
    bytes32 operatorInfoTreeRoot;
    uint256 numOperators;
    G1Point aggregatePubkey;
    uint256[] totalWeights;
}

struct ECDSAOperatorInfo {
    address pubkey;
    uint256[] weights;
}

enum CurveType {
    NONE,
    ECDSA,
    BN254
}

interface IAllocationManagerView {
    function getMembers(OperatorSet memory operatorSet) external view returns (address[] memory);
}

interface IKeyRegistrarView {
    function getOperatorSetCurveType(OperatorSet memory operatorSet) external view returns (CurveType);
    function isRegistered(OperatorSet memory operatorSet, address operator) external view returns (bool);
    function getBN254Key(OperatorSet memory operatorSet, address operator)
        external
        view
        returns (G1Point memory g1Point, G2Point memory g2Point);
    function getECDSAAddress(OperatorSet memory operatorSet, address operator) external view returns (address);
}

interface IPermissionControllerView {
    function canCall(address account, address caller, address target, bytes4 selector) external view returns (bool);
}
