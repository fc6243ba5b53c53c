// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.27;

/// @notice The first implementation of every devnet proxy: a proxy needs code behind it when it is
/// created, before the implementations that take the proxies' addresses exist. Replaced at once.
contract DevnetProxyPlaceholder {}
