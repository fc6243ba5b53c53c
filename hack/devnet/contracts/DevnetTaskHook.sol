// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

import {OperatorSet} from "./EigenLayerViews.sol";

/// @notice The devnet AVS's `IAVSTaskHook` for the TaskMailbox: accepts every task and result and
/// charges no fee. The TaskMailbox requires a hook in each executor operator set's task config.
/// Test infrastructure, not for production.
contract DevnetTaskHook {
    struct TaskParams {
        address refundCollector;
        OperatorSet executorOperatorSet;
        bytes payload;
    }

    function validatePreTaskCreation(address, TaskParams memory) external pure {}

    function handlePostTaskCreation(bytes32) external pure {}

    function validatePreTaskResultSubmission(address, bytes32, bytes memory, bytes memory) external pure {}

    function handlePostTaskResultSubmission(address, bytes32) external pure {}

    function calculateTaskFee(TaskParams memory) external pure returns (uint96) {
        return 0;
    }
}
