// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC2981} from "@openzeppelin/contracts/token/common/ERC2981.sol";

/// @title GreedyRoyaltyToken
/// @notice An ERC-1155 that asks a 90 % royalty on every token, to show that the market caps royalties.
/// @dev Test-only: never deployed outside the local development chain.
contract GreedyRoyaltyToken is ERC1155, ERC2981 {
    constructor(address royaltyReceiver) ERC1155("") {
        _setDefaultRoyalty(royaltyReceiver, 9000);
    }

    /// @notice Mints `amount` of `id` to `to`, for anyone.
    function mint(address to, uint256 id, uint256 amount) external {
        _mint(to, id, amount, "");
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC1155, ERC2981) returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}
