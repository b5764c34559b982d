// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {ERC721Holder} from "@openzeppelin/contracts/token/ERC721/utils/ERC721Holder.sol";

/// @title TestWallet
/// @notice A contract account for the contract tests: it makes calls on its owner's behalf and holds
/// tokens, and can be told to refuse ETH, so that the failed-payment paths can be exercised.
/// @dev Test-only: never deployed outside the local development chain.
contract TestWallet is ERC1155Holder, ERC721Holder {
    bool public refuseEth;

    error Refused();

    /// @notice Turns ETH refusal on or off.
    function setRefuseEth(bool refuse) external {
        refuseEth = refuse;
    }

    /// @notice Calls `target` with `data` and `msg.value`, bubbling up a revert.
    function exec(address target, bytes calldata data) external payable returns (bytes memory result) {
        bool ok;
        (ok, result) = target.call{value: msg.value}(data);
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
    }

    receive() external payable {
        if (refuseEth) revert Refused();
    }
}
