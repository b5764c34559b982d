// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ICreatorOf
/// @notice The creator of a token, as the Veza token contracts record it; the licence registry asks it
/// who may set a token's licence.
interface ICreatorOf {
    /// @notice The address that created `tokenId`; reverts for a token that does not exist.
    function creatorOf(uint256 tokenId) external view returns (address);
}
