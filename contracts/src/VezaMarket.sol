// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1155} from "@openzeppelin/contracts/token/ERC1155/IERC1155.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC2981} from "@openzeppelin/contracts/interfaces/IERC2981.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title VezaMarket
/// @notice Fixed-price sales of ERC-1155 and ERC-721 tokens for ETH or an ERC-20. The token stays with
/// the seller until a sale (the seller approves the market for it); every sale pays the token's ERC-2981
/// royalty (capped at 50 % of the price) to its receiver, normally a VezaSplit, and the rest to the seller.
contract VezaMarket is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The largest share of a sale's price paid as royalty, in basis points (50 %).
    uint96 public constant MAX_ROYALTY_BPS = 5000;

    struct Listing {
        address seller;
        address token;
        uint256 tokenId;
        uint256 remaining;
        address currency;
        uint256 pricePerUnit;
        bool active;
    }

    event Listed(
        uint256 indexed listingId,
        address indexed seller,
        address indexed token,
        uint256 tokenId,
        uint256 amount,
        address currency,
        uint256 pricePerUnit
    );
    event Sold(
        uint256 indexed listingId,
        address indexed buyer,
        uint256 amount,
        uint256 paid,
        address royaltyReceiver,
        uint256 royaltyPaid
    );
    event Cancelled(uint256 indexed listingId);

    error NotSeller(uint256 listingId);
    error ListingNotActive(uint256 listingId);
    error NotEnoughListed(uint256 remaining);
    error WrongPayment(uint256 expected, uint256 sent);
    error NotApproved();
    error ZeroAmount();
    error ZeroPrice();
    error TransferFailed();
    /// @notice The token is neither ERC-1155 nor ERC-721 (by ERC-165).
    error UnsupportedToken(address token);
    /// @notice The seller holds fewer than the amount listed (or, for ERC-721, does not own the token).
    error NotOwner(address token, uint256 tokenId);
    /// @notice pricePerUnit × amount is too large for the royalty to be computed on it.
    error PriceTooHigh(uint256 pricePerUnit);
    /// @notice An ERC-721 token is listed one at a time (amount must be 1); an ERC-1155 amount must fit 96 bits.
    error InvalidAmount(uint256 amount);

    /// @dev A listing as stored: the fields of `Listing` reordered (and `remaining` held in 96 bits) to
    /// fill five slots.
    struct StoredListing {
        address seller;
        uint96 remaining;
        address token;
        bool active;
        address currency;
        uint256 tokenId;
        uint256 pricePerUnit;
    }

    mapping(uint256 listingId => StoredListing) private _listings;
    uint256 private _lastListingId;

    /// @notice Lists `amount` of `token` #`tokenId` at `pricePerUnit` (in wei of `currency`, 0 = ETH).
    /// The seller must hold them and have approved the market.
    function list(address token, uint256 tokenId, uint256 amount, address currency, uint256 pricePerUnit)
        external
        returns (uint256 listingId)
    {
        if (amount == 0) revert ZeroAmount();
        if (pricePerUnit == 0) revert ZeroPrice();
        bool is1155 = _isERC1155(token);
        if ((!is1155 && amount != 1) || amount > type(uint96).max) revert InvalidAmount(amount);
        // Every sale's price × 10000 (the royalty's arithmetic) must fit 256 bits.
        if (pricePerUnit > type(uint256).max / 10_000 / amount) revert PriceTooHigh(pricePerUnit);
        _checkHeldAndApproved(token, is1155, msg.sender, tokenId, amount);
        listingId = ++_lastListingId;
        _listings[listingId] = StoredListing({
            seller: msg.sender,
            remaining: uint96(amount),
            token: token,
            active: true,
            currency: currency,
            tokenId: tokenId,
            pricePerUnit: pricePerUnit
        });
        emit Listed(listingId, msg.sender, token, tokenId, amount, currency, pricePerUnit);
    }

    /// @notice Buys `amount` from a listing. For ETH, send exactly pricePerUnit × amount; for an ERC-20,
    /// approve the market for that amount and send no ETH.
    function buy(uint256 listingId, uint256 amount) external payable nonReentrant {
        StoredListing storage l = _listings[listingId];
        if (!l.active) revert ListingNotActive(listingId);
        if (amount == 0) revert ZeroAmount();
        uint96 remaining = l.remaining;
        if (amount > remaining) revert NotEnoughListed(remaining);
        uint256 price = l.pricePerUnit * amount;
        uint256 expectedValue = l.currency == address(0) ? price : 0;
        if (msg.value != expectedValue) revert WrongPayment(expectedValue, msg.value);
        // amount <= remaining, which fits 96 bits.
        uint96 left = remaining - uint96(amount);
        l.remaining = left;
        if (left == 0) l.active = false;
        _settle(l, listingId, amount, price);
    }

    /// @notice Withdraws a listing (its seller only).
    function cancel(uint256 listingId) external {
        StoredListing storage l = _listings[listingId];
        if (!l.active) revert ListingNotActive(listingId);
        if (l.seller != msg.sender) revert NotSeller(listingId);
        l.active = false;
        emit Cancelled(listingId);
    }

    /// @notice A listing as it stands (a zeroed one for an unknown id).
    function listing(uint256 listingId) external view returns (Listing memory) {
        StoredListing storage l = _listings[listingId];
        return Listing({
            seller: l.seller,
            token: l.token,
            tokenId: l.tokenId,
            remaining: l.remaining,
            currency: l.currency,
            pricePerUnit: l.pricePerUnit,
            active: l.active
        });
    }

    /// @notice The number of listings made (the last listing id).
    function listingCount() external view returns (uint256) {
        return _lastListingId;
    }

    /// @dev Moves the tokens to the buyer, then the royalty to its receiver and the rest to the seller.
    function _settle(StoredListing storage l, uint256 listingId, uint256 amount, uint256 price) private {
        address seller = l.seller;
        address token = l.token;
        uint256 tokenId = l.tokenId;
        _transferToken(token, seller, tokenId, amount);
        (address royaltyReceiver, uint256 royalty) = _royalty(token, tokenId, price);
        emit Sold(listingId, msg.sender, amount, price, royaltyReceiver, royalty);
        address currency = l.currency;
        _pay(currency, msg.sender, royaltyReceiver, royalty);
        _pay(currency, msg.sender, seller, price - royalty);
    }

    function _transferToken(address token, address seller, uint256 tokenId, uint256 amount) private {
        bool is1155 = _isERC1155(token);
        _checkHeldAndApproved(token, is1155, seller, tokenId, amount);
        if (is1155) IERC1155(token).safeTransferFrom(seller, msg.sender, tokenId, amount, "");
        else IERC721(token).safeTransferFrom(seller, msg.sender, tokenId);
    }

    function _isERC1155(address token) private view returns (bool) {
        if (_supports(token, type(IERC1155).interfaceId)) return true;
        if (_supports(token, type(IERC721).interfaceId)) return false;
        revert UnsupportedToken(token);
    }

    function _supports(address token, bytes4 interfaceId) private view returns (bool) {
        if (token.code.length == 0) return false;
        try IERC165(token).supportsInterface(interfaceId) returns (bool yes) {
            return yes;
        } catch {
            return false;
        }
    }

    function _checkHeldAndApproved(address token, bool is1155, address owner, uint256 tokenId, uint256 amount)
        private
        view
    {
        if (is1155) {
            if (IERC1155(token).balanceOf(owner, tokenId) < amount) revert NotOwner(token, tokenId);
            if (!IERC1155(token).isApprovedForAll(owner, address(this))) revert NotApproved();
        } else {
            address holder;
            try IERC721(token).ownerOf(tokenId) returns (address o) {
                holder = o;
            } catch {
                revert NotOwner(token, tokenId);
            }
            if (holder != owner) revert NotOwner(token, tokenId);
            if (IERC721(token).getApproved(tokenId) != address(this) && !IERC721(token).isApprovedForAll(owner, address(this))) {
                revert NotApproved();
            }
        }
    }

    /// @dev The token's ERC-2981 royalty on `price`, capped at MAX_ROYALTY_BPS; none when it has no royalty.
    function _royalty(address token, uint256 tokenId, uint256 price) private view returns (address, uint256) {
        if (!_supports(token, type(IERC2981).interfaceId)) return (address(0), 0);
        try IERC2981(token).royaltyInfo(tokenId, price) returns (address receiver, uint256 amount) {
            if (receiver == address(0) || amount == 0) return (address(0), 0);
            uint256 cap = (price * MAX_ROYALTY_BPS) / 10_000;
            return (receiver, amount > cap ? cap : amount);
        } catch {
            return (address(0), 0);
        }
    }

    function _pay(address currency, address from, address to, uint256 amount) private {
        if (amount == 0) return;
        if (currency == address(0)) {
            (bool ok,) = payable(to).call{value: amount}("");
            if (!ok) revert TransferFailed();
        } else if (!IERC20(currency).trySafeTransferFrom(from, to, amount)) {
            revert TransferFailed();
        }
    }
}
