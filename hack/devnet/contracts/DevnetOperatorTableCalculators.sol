// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {
    BN254OperatorInfo,
    BN254OperatorSetInfo,
    ECDSAOperatorInfo,
    G1Point,
    IAllocationManagerView,
    IKeyRegistrarView,
    OperatorSet
} from "./EigenLayerViews.sol";

/// @notice Operator table calculators for the devnet's generation reservations in the CrossChainRegistry:
/// the operator table of a set is its members with a key in the KeyRegistrar, each with one stake type
/// of weight 1 ("one operator, one vote"), instead of the slashable stake the production calculators
/// compute. The encodings are those the OperatorTableUpdater and the certificate verifiers decode.
/// Test infrastructure, not for production.
abstract contract DevnetTableCalculatorBase {
    uint256 internal constant WEIGHT = 1;

    IAllocationManagerView public immutable allocationManager;
    IKeyRegistrarView public immutable keyRegistrar;

    constructor(IAllocationManagerView allocationManager_, IKeyRegistrarView keyRegistrar_) {
        allocationManager = allocationManager_;
        keyRegistrar = keyRegistrar_;
    }

    /// @notice The members of the set that have a key registered for it, in AllocationManager order.
    function getOperatorSetWeights(OperatorSet calldata operatorSet)
        public
        view
        returns (address[] memory operators, uint256[][] memory weights)
    {
        address[] memory members = allocationManager.getMembers(operatorSet);
        operators = new address[](members.length);
        uint256 count = 0;
        for (uint256 i = 0; i < members.length; i++) {
            if (keyRegistrar.isRegistered(operatorSet, members[i])) operators[count++] = members[i];
        }
        assembly {
            mstore(operators, count)
        }
        weights = new uint256[][](count);
        for (uint256 i = 0; i < count; i++) {
            weights[i] = _unitWeights();
        }
    }

    function getOperatorWeights(OperatorSet calldata operatorSet, address operator)
        external
        view
        returns (uint256[] memory weights)
    {
        bool member = false;
        address[] memory members = allocationManager.getMembers(operatorSet);
        for (uint256 i = 0; i < members.length; i++) {
            if (members[i] == operator) member = true;
        }
        if (member && keyRegistrar.isRegistered(operatorSet, operator)) return _unitWeights();
        return new uint256[](0);
    }

    function _unitWeights() internal pure returns (uint256[] memory weights) {
        weights = new uint256[](1);
        weights[0] = WEIGHT;
    }
}

contract DevnetECDSATableCalculator is DevnetTableCalculatorBase {
    constructor(IAllocationManagerView allocationManager_, IKeyRegistrarView keyRegistrar_)
        DevnetTableCalculatorBase(allocationManager_, keyRegistrar_)
    {}

    function calculateOperatorTable(OperatorSet calldata operatorSet)
        public
        view
        returns (ECDSAOperatorInfo[] memory infos)
    {
        (address[] memory operators, uint256[][] memory weights) = getOperatorSetWeights(operatorSet);
        infos = new ECDSAOperatorInfo[](operators.length);
        for (uint256 i = 0; i < operators.length; i++) {
            infos[i] = ECDSAOperatorInfo(keyRegistrar.getECDSAAddress(operatorSet, operators[i]), weights[i]);
        }
    }

    function calculateOperatorTableBytes(OperatorSet calldata operatorSet) external view returns (bytes memory) {
        return abi.encode(calculateOperatorTable(operatorSet));
    }
}

contract DevnetBN254TableCalculator is DevnetTableCalculatorBase {
    /// @dev LeafCalculatorMixin.OPERATOR_INFO_LEAF_SALT of the core contracts.
    uint8 internal constant OPERATOR_INFO_LEAF_SALT = 0x75;

    error G1AdditionFailed();

    constructor(IAllocationManagerView allocationManager_, IKeyRegistrarView keyRegistrar_)
        DevnetTableCalculatorBase(allocationManager_, keyRegistrar_)
    {}

    function getOperatorInfos(OperatorSet calldata operatorSet) public view returns (BN254OperatorInfo[] memory infos) {
        (address[] memory operators, uint256[][] memory weights) = getOperatorSetWeights(operatorSet);
        infos = new BN254OperatorInfo[](operators.length);
        for (uint256 i = 0; i < operators.length; i++) {
            (G1Point memory g1,) = keyRegistrar.getBN254Key(operatorSet, operators[i]);
            infos[i] = BN254OperatorInfo(g1, weights[i]);
        }
    }

    /// @notice The set's table: the Merkle root of its operator infos (leaves salted and hashed like
    /// the certificate verifier's `calculateOperatorInfoLeaf`, padded with zero leaves to a power of
    /// two), their count, the sum of their G1 keys and the total weights.
    function calculateOperatorTable(OperatorSet calldata operatorSet)
        public
        view
        returns (BN254OperatorSetInfo memory info)
    {
        BN254OperatorInfo[] memory infos = getOperatorInfos(operatorSet);
        bytes32[] memory leaves = new bytes32[](infos.length);
        G1Point memory apk = G1Point(0, 0);
        uint256[] memory totals = new uint256[](1);
        for (uint256 i = 0; i < infos.length; i++) {
            leaves[i] = keccak256(abi.encodePacked(OPERATOR_INFO_LEAF_SALT, abi.encode(infos[i])));
            apk = _g1Add(apk, infos[i].pubkey);
            totals[0] += infos[i].weights[0];
        }
        info = BN254OperatorSetInfo(_merkleRoot(leaves), infos.length, apk, totals);
    }

    function calculateOperatorTableBytes(OperatorSet calldata operatorSet) external view returns (bytes memory) {
        return abi.encode(calculateOperatorTable(operatorSet));
    }

    function _merkleRoot(bytes32[] memory leaves) internal pure returns (bytes32) {
        if (leaves.length == 0) return bytes32(0);
        uint256 width = 1;
        while (width < leaves.length) width *= 2;
        bytes32[] memory layer = new bytes32[](width);
        for (uint256 i = 0; i < leaves.length; i++) {
            layer[i] = leaves[i];
        }
        while (width > 1) {
            width /= 2;
            for (uint256 i = 0; i < width; i++) {
                layer[i] = keccak256(abi.encodePacked(layer[2 * i], layer[2 * i + 1]));
            }
        }
        return layer[0];
    }

    /// @dev The ecAdd precompile (address 0x06).
    function _g1Add(G1Point memory a, G1Point memory b) internal view returns (G1Point memory sum) {
        uint256[4] memory input = [a.X, a.Y, b.X, b.Y];
        bool ok;
        assembly {
            ok := staticcall(gas(), 0x06, input, 0x80, sum, 0x40)
        }
        if (!ok) revert G1AdditionFailed();
    }
}
