// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken
/// @notice A plain ERC-20 for the contract tests and the gas bench: anyone may mint to anyone.
/// @dev Test-only: never deployed outside the local development chain.
contract TestToken is ERC20 {
    constructor() ERC20("Veza Test Token", "VTT") {}

    /// @notice Creates `amount` tokens for `to`.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
