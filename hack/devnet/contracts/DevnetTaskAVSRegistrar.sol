// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {IAllocationManagerView, IKeyRegistrarView, IPermissionControllerView, OperatorSet} from "./EigenLayerViews.sol";

/// @notice The devnet AVS's registrar: the `TaskAVSRegistrarBase` interface the Hourglass executor and
/// aggregator read (AVS config, operator sockets) plus the `IAVSRegistrar` hooks the AllocationManager
/// calls when an operator joins or leaves the AVS's operator sets. Test infrastructure, not for production.
contract DevnetTaskAVSRegistrar {
    struct AvsConfig {
        uint32 aggregatorOperatorSetId;
        uint32[] executorOperatorSetIds;
    }

    address public immutable avs;
    IAllocationManagerView public immutable allocationManager;
    IKeyRegistrarView public immutable keyRegistrar;
    IPermissionControllerView public immutable permissionController;

    AvsConfig internal _avsConfig;
    mapping(address operator => string socket) internal _operatorSockets;

    event AvsConfigSet(uint32 aggregatorOperatorSetId, uint32[] executorOperatorSetIds);
    event OperatorRegistered(address indexed operator, uint32[] operatorSetIds);
    event OperatorDeregistered(address indexed operator, uint32[] operatorSetIds);
    event OperatorSocketSet(address indexed operator, string socket);

    error NotAllocationManager();
    error UnsupportedAVS();
    error KeyNotRegistered(uint32 operatorSetId);
    error Unauthorized();
    error NoExecutorOperatorSets();
    error ExecutorOperatorSetIdsNotIncreasing();
    error AggregatorIsExecutorOperatorSet();

    modifier onlyAllocationManager() {
        if (msg.sender != address(allocationManager)) revert NotAllocationManager();
        _;
    }

    /// @dev Whoever the PermissionController lets act for `account` (the account itself while it has no admin).
    modifier onlyFor(address account) {
        if (!permissionController.canCall(account, msg.sender, address(this), msg.sig)) {
            revert Unauthorized();
        }
        _;
    }

    constructor(
        address avs_,
        IAllocationManagerView allocationManager_,
        IKeyRegistrarView keyRegistrar_,
        IPermissionControllerView permissionController_,
        AvsConfig memory initialConfig
    ) {
        avs = avs_;
        allocationManager = allocationManager_;
        keyRegistrar = keyRegistrar_;
        permissionController = permissionController_;
        _setAvsConfig(initialConfig);
    }

    /// @notice Called by the AllocationManager in `registerForOperatorSets`; `data` is the ABI-encoded
    /// socket string (as the Go tooling sends it) or empty. Every set needs the operator's key first.
    function registerOperator(address operator, address avs_, uint32[] calldata operatorSetIds, bytes calldata data)
        external
        onlyAllocationManager
    {
        if (avs_ != avs) revert UnsupportedAVS();
        for (uint256 i = 0; i < operatorSetIds.length; i++) {
            if (!keyRegistrar.isRegistered(OperatorSet(avs, operatorSetIds[i]), operator)) {
                revert KeyNotRegistered(operatorSetIds[i]);
            }
        }
        if (data.length > 0) _setSocket(operator, abi.decode(data, (string)));
        emit OperatorRegistered(operator, operatorSetIds);
    }

    function deregisterOperator(address operator, address avs_, uint32[] calldata operatorSetIds)
        external
        onlyAllocationManager
    {
        if (avs_ != avs) revert UnsupportedAVS();
        emit OperatorDeregistered(operator, operatorSetIds);
    }

    function supportsAVS(address avs_) external view returns (bool) {
        return avs_ == avs;
    }

    function getAVS() external view returns (address) {
        return avs;
    }

    function getAvsConfig() external view returns (AvsConfig memory) {
        return _avsConfig;
    }

    function setAvsConfig(AvsConfig memory config) external onlyFor(avs) {
        _setAvsConfig(config);
    }

    function getOperatorSocket(address operator) external view returns (string memory) {
        return _operatorSockets[operator];
    }

    function updateSocket(address operator, string memory socket) external onlyFor(operator) {
        _setSocket(operator, socket);
    }

    function _setSocket(address operator, string memory socket) internal {
        _operatorSockets[operator] = socket;
        emit OperatorSocketSet(operator, socket);
    }

    function _setAvsConfig(AvsConfig memory config) internal {
        uint32[] memory ids = config.executorOperatorSetIds;
        if (ids.length == 0) revert NoExecutorOperatorSets();
        for (uint256 i = 0; i < ids.length; i++) {
            if (i > 0 && ids[i] <= ids[i - 1]) revert ExecutorOperatorSetIdsNotIncreasing();
            if (ids[i] == config.aggregatorOperatorSetId) revert AggregatorIsExecutorOperatorSet();
        }
        _avsConfig = config;
        emit AvsConfigSet(config.aggregatorOperatorSetId, ids);
    }
}
