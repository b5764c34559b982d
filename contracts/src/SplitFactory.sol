// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {VezaSplit} from "./VezaSplit.sol";

/// @title SplitFactory
/// @notice Creates VezaSplit contracts as CREATE2 clones at an address fixed by their shares: the same
/// recipients and shares always give the same split, so a split can be named (and paid) before it exists,
/// and creating one twice returns the first.
/// @dev The recipients and shares travel in the clone's code (immutable arguments, 24 bytes per recipient:
/// address then uint32 share); the CREATE2 salt is the keccak256 of those bytes, which are the sorted
/// arrays packed.
contract SplitFactory {
    /// @notice The most recipients a split may have.
    uint256 public constant MAX_RECIPIENTS = 100;

    /// @notice The VezaSplit every split is a clone of.
    address public immutable implementation;

    event SplitCreated(address indexed split, address[] recipients, uint32[] bps);

    error InvalidSplit(string reason);

    constructor() {
        implementation = address(new VezaSplit());
    }

    /// @notice Creates the split of `recipients` (strictly ascending by address) with shares `bps`
    /// (each > 0, summing to 10000), or returns it if it exists.
    function createSplit(address[] calldata recipients, uint32[] calldata bps) external returns (address split) {
        bytes memory args = _checkedArgs(recipients, bps);
        bytes32 salt = keccak256(args);
        split = Clones.predictDeterministicAddressWithImmutableArgs(implementation, args, salt);
        if (split.code.length > 0) return split;
        Clones.cloneDeterministicWithImmutableArgs(implementation, args, salt);
        emit SplitCreated(split, recipients, bps);
    }

    /// @notice The address `createSplit(recipients, bps)` creates or returns.
    function predictSplit(address[] calldata recipients, uint32[] calldata bps) external view returns (address) {
        bytes memory args = _checkedArgs(recipients, bps);
        return Clones.predictDeterministicAddressWithImmutableArgs(implementation, args, keccak256(args));
    }

    /// @dev Checks the split and packs it: per recipient its address (20 bytes) and its share (4 bytes).
    function _checkedArgs(address[] calldata recipients, uint32[] calldata bps) private pure returns (bytes memory args) {
        uint256 n = recipients.length;
        if (n == 0) revert InvalidSplit("no recipients");
        if (n != bps.length) revert InvalidSplit("recipients and shares differ in length");
        if (n > MAX_RECIPIENTS) revert InvalidSplit("more than 100 recipients");
        if (recipients[0] == address(0)) revert InvalidSplit("zero address");
        uint256 sum = 0;
        args = new bytes(n * 24);
        for (uint256 i = 0; i < n; i++) {
            address recipient = recipients[i];
            uint32 share = bps[i];
            if (i > 0 && recipient <= recipients[i - 1]) revert InvalidSplit("recipients not strictly ascending");
            if (share == 0) revert InvalidSplit("zero share");
            sum += share;
            // Each 32-byte store spills 8 bytes past its entry; the next entry overwrites them, and the
            // last spill lands in free memory past the array.
            assembly ("memory-safe") {
                mstore(add(add(args, 0x20), mul(i, 24)), or(shl(96, recipient), shl(64, share)))
            }
        }
        if (sum != 10_000) revert InvalidSplit("shares must sum to 10000");
    }
}
