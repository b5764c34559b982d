// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title VezaSplit
/// @notice Fixed shares of everything paid to this address, in ETH or any ERC-20, paid out on request
/// (pull payments, as 0xSplits): anyone may call `release` for a recipient, who receives its share of
/// everything ever received minus what it was already paid.
/// @dev Deployed by SplitFactory as CREATE2 clones whose recipients and shares are part of the clone's
/// code (OpenZeppelin Clones with immutable arguments: 24 bytes per recipient, the address then the
/// share as uint32, ascending by address), so creating a split writes no storage and nothing can change
/// them. Shares round down to the wei, so the recipients are never owed more than was received; the few
/// wei a division leaves over stay here and count towards the next payments (they are part of the
/// cumulative total every share is computed from).
contract VezaSplit {
    using SafeERC20 for IERC20;

    /// @notice The denominator of the shares: they sum to 10000 basis points.
    uint32 public constant TOTAL_BPS = 10_000;
    /// @dev Bytes per recipient in the clone's arguments: a 20-byte address and a 4-byte share.
    uint256 internal constant ENTRY_BYTES = 24;

    event PaymentReleased(address indexed account, uint256 amount);
    event ERC20PaymentReleased(address indexed token, address indexed account, uint256 amount);

    error InvalidSplit(string reason);
    error NotARecipient(address account);
    error NothingToRelease(address account);
    error TransferFailed();

    /// @dev The implementation's own address: called directly (not through a clone), it holds no shares.
    address private immutable _implementation;

    uint256 private _totalReleased;
    mapping(address account => uint256) private _released;
    mapping(IERC20 token => uint256) private _erc20TotalReleased;
    mapping(IERC20 token => mapping(address account => uint256)) private _erc20Released;

    constructor() {
        _implementation = address(this);
    }

    /// @notice Accepts ETH from anyone (a mint's price, a sale's royalty).
    receive() external payable {}

    /// @notice The recipients, ascending by address, and their shares in basis points.
    function recipients() external view returns (address[] memory accounts, uint32[] memory bps) {
        bytes memory args = _args();
        uint256 n = args.length / ENTRY_BYTES;
        accounts = new address[](n);
        bps = new uint32[](n);
        for (uint256 i = 0; i < n; i++) {
            (accounts[i], bps[i]) = _entry(args, i);
        }
    }

    /// @notice `account`'s share in basis points (0 for a non-recipient).
    function shareOf(address account) public view returns (uint32) {
        bytes memory args = _args();
        uint256 n = args.length / ENTRY_BYTES;
        for (uint256 i = 0; i < n; i++) {
            (address recipient, uint32 bps) = _entry(args, i);
            if (recipient == account) return bps;
            if (recipient > account) break; // ascending: it is not further on
        }
        return 0;
    }

    /// @notice ETH `account` may be paid now.
    function releasable(address account) public view returns (uint256) {
        uint256 totalReceived = address(this).balance + _totalReleased;
        return _owed(totalReceived, shareOf(account)) - _released[account];
    }

    /// @notice Amount of `token` `account` may be paid now.
    function releasable(IERC20 token, address account) public view returns (uint256) {
        uint256 totalReceived = token.balanceOf(address(this)) + _erc20TotalReleased[token];
        return _owed(totalReceived, shareOf(account)) - _erc20Released[token][account];
    }

    /// @notice ETH already paid to `account`.
    function released(address account) external view returns (uint256) {
        return _released[account];
    }

    /// @notice Amount of `token` already paid to `account`.
    function released(IERC20 token, address account) external view returns (uint256) {
        return _erc20Released[token][account];
    }

    /// @notice Pays `account` the ETH it is owed.
    function release(address payable account) external {
        uint32 share = shareOf(account);
        if (share == 0) revert NotARecipient(account);
        uint256 amount = _owed(address(this).balance + _totalReleased, share) - _released[account];
        if (amount == 0) revert NothingToRelease(account);
        _released[account] += amount;
        _totalReleased += amount;
        emit PaymentReleased(account, amount);
        (bool ok,) = account.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    /// @notice Pays `account` the amount of `token` it is owed.
    function release(IERC20 token, address account) external {
        uint32 share = shareOf(account);
        if (share == 0) revert NotARecipient(account);
        uint256 amount = _owed(token.balanceOf(address(this)) + _erc20TotalReleased[token], share)
            - _erc20Released[token][account];
        if (amount == 0) revert NothingToRelease(account);
        _erc20Released[token][account] += amount;
        _erc20TotalReleased[token] += amount;
        emit ERC20PaymentReleased(address(token), account, amount);
        if (!token.trySafeTransfer(account, amount)) revert TransferFailed();
    }

    function _owed(uint256 totalReceived, uint32 share) private pure returns (uint256) {
        return (totalReceived * share) / TOTAL_BPS;
    }

    function _args() private view returns (bytes memory) {
        if (address(this) == _implementation) revert InvalidSplit("not a split");
        return Clones.fetchCloneArgs(address(this));
    }

    function _entry(bytes memory args, uint256 i) private pure returns (address recipient, uint32 bps) {
        uint256 word;
        assembly ("memory-safe") {
            word := mload(add(add(args, 0x20), mul(i, ENTRY_BYTES)))
        }
        recipient = address(uint160(word >> 96));
        bps = uint32(word >> 64);
    }
}
