// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC2981} from "@openzeppelin/contracts/token/common/ERC2981.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ICreatorOf} from "./ICreatorOf.sol";

/// @title VezaEditions
/// @notice Numbered editions of a track (ERC-1155): the platform's operator creates an edition for a
/// creator, collectors mint copies at the edition's price inside its time window and under its supply
/// cap, and the price goes straight to the edition's `payoutTo` (normally a VezaSplit). Each token
/// carries its own ERC-2981 royalty (receiver `payoutTo`, at most 50 %).
/// @dev Lazy minting: a creator may instead sign an EIP-712 `Voucher`; the first collector to redeem it
/// creates the edition and mints in one transaction. Each voucher creates one edition: its digest maps to
/// the token id, and a second redemption is refused (later copies are minted with `mint`).
contract VezaEditions is ERC1155, ERC2981, AccessControl, EIP712, ReentrancyGuardTransient, ICreatorOf {
    /// @notice May create editions and mint free copies for the creators.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice The largest royalty an edition may carry, in basis points (50 %).
    uint96 public constant MAX_ROYALTY_BPS = 5000;
    /// @notice The EIP-712 type of a voucher; `uri` is hashed as EIP-712 `string` (keccak256 of its bytes).
    bytes32 public constant VOUCHER_TYPEHASH = keccak256(
        "Voucher(address creator,address payoutTo,uint64 maxSupply,uint64 mintStart,uint64 mintEnd,uint256 price,uint96 royaltyBps,string uri,uint256 nonce,uint256 deadline)"
    );

    struct Edition {
        address creator;
        address payoutTo;
        uint64 maxSupply;
        uint64 minted;
        uint64 mintStart;
        uint64 mintEnd;
        uint256 price;
        uint96 royaltyBps;
        string uri;
    }

    struct Voucher {
        address creator;
        address payoutTo;
        uint64 maxSupply;
        uint64 mintStart;
        uint64 mintEnd;
        uint256 price;
        uint96 royaltyBps;
        string uri;
        uint256 nonce;
        uint256 deadline;
    }

    event EditionCreated(
        uint256 indexed tokenId,
        address indexed creator,
        address payoutTo,
        uint64 maxSupply,
        uint64 mintStart,
        uint64 mintEnd,
        uint256 price,
        uint96 royaltyBps,
        string uri
    );
    event EditionMinted(uint256 indexed tokenId, address indexed to, uint256 amount, uint256 paid);
    event VoucherRedeemed(bytes32 indexed voucherHash, uint256 indexed tokenId);

    error SoldOut(uint256 tokenId, uint256 remaining);
    error MintNotStarted(uint256 tokenId, uint64 start);
    error MintEnded(uint256 tokenId, uint64 end);
    error WrongPayment(uint256 expected, uint256 sent);
    error UnknownToken(uint256 tokenId);
    error RoyaltyTooHigh(uint96 bps);
    error ZeroAmount();
    error InvalidSignature();
    error VoucherExpired(uint256 deadline);
    error VoucherAlreadyUsed(bytes32 voucherHash);
    error InvalidWindow(uint64 start, uint64 end);
    error ZeroAddress();
    /// @notice The payment to the edition's `payoutTo` failed.
    error TransferFailed();

    /// @dev An edition as stored: the fields of `Edition` reordered to fill five slots (plus the uri's),
    /// with the royalty kept here rather than in ERC2981's own per-token slot.
    struct StoredEdition {
        address creator;
        uint96 royaltyBps;
        address payoutTo;
        uint64 maxSupply;
        uint64 minted;
        uint64 mintStart;
        uint64 mintEnd;
        uint256 price;
        string uri;
    }

    mapping(uint256 tokenId => StoredEdition) private _editions;
    mapping(bytes32 voucherHash => uint256 tokenId) private _voucherTokenIds;
    uint256 private _lastTokenId;

    /// @notice The deployer becomes admin and minter (the platform's operator key).
    constructor() ERC1155("") EIP712("VezaEditions", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
        _grantRole(MINTER_ROLE, msg.sender);
    }

    /// @notice Creates an edition; token ids run 1, 2, 3…
    /// @param maxSupply 0 for an open edition.
    /// @param mintStart Mints are refused before this time (seconds); 0 = at once.
    /// @param mintEnd Mints are refused after this time (inclusive end); 0 = never ends.
    /// @param price Wei per copy (0 = free).
    /// @param royaltyBps ERC-2981 royalty to `payoutTo`, at most MAX_ROYALTY_BPS.
    /// @param uri_ The metadata's `ipfs://<cid>`.
    function createEdition(
        address creator,
        address payoutTo,
        uint64 maxSupply,
        uint64 mintStart,
        uint64 mintEnd,
        uint256 price,
        uint96 royaltyBps,
        string calldata uri_
    ) external onlyRole(MINTER_ROLE) returns (uint256 tokenId) {
        return _createEdition(
            Edition({
                creator: creator,
                payoutTo: payoutTo,
                maxSupply: maxSupply,
                minted: 0,
                mintStart: mintStart,
                mintEnd: mintEnd,
                price: price,
                royaltyBps: royaltyBps,
                uri: uri_
            })
        );
    }

    /// @notice Mints `amount` copies to `to`; the sender pays exactly price × amount, sent on to `payoutTo`.
    function mint(address to, uint256 tokenId, uint256 amount) external payable nonReentrant {
        _mintPaid(to, tokenId, amount);
    }

    /// @notice Mints free copies (the creators' own), within the supply cap but outside the time window.
    function mintTo(address to, uint256 tokenId, uint256 amount) external onlyRole(MINTER_ROLE) nonReentrant {
        StoredEdition storage e = _existing(tokenId);
        _take(e, tokenId, amount);
        _mint(to, tokenId, amount, "");
        emit EditionMinted(tokenId, to, amount, 0);
    }

    /// @notice Redeems a creator-signed voucher: creates its edition, then mints `amount` copies to `to`
    /// at the voucher's price. A voucher creates one edition only; mint further copies with `mint`.
    /// @param signature The creator's EIP-712 signature over `hashVoucher(v)` (ERC-1271 for contract creators).
    function mintWithVoucher(Voucher calldata v, bytes calldata signature, address to, uint256 amount)
        external
        payable
        nonReentrant
        returns (uint256 tokenId)
    {
        if (block.timestamp > v.deadline) revert VoucherExpired(v.deadline);
        bytes32 digest = hashVoucher(v);
        if (_voucherTokenIds[digest] != 0) revert VoucherAlreadyUsed(digest);
        if (v.creator == address(0)) revert ZeroAddress();
        if (!SignatureChecker.isValidSignatureNowCalldata(v.creator, digest, signature)) revert InvalidSignature();
        tokenId = _createEdition(
            Edition({
                creator: v.creator,
                payoutTo: v.payoutTo,
                maxSupply: v.maxSupply,
                minted: 0,
                mintStart: v.mintStart,
                mintEnd: v.mintEnd,
                price: v.price,
                royaltyBps: v.royaltyBps,
                uri: v.uri
            })
        );
        _voucherTokenIds[digest] = tokenId;
        emit VoucherRedeemed(digest, tokenId);
        _mintPaid(to, tokenId, amount);
    }

    /// @notice The token id a voucher created; 0 while it has not been redeemed.
    function voucherTokenId(bytes32 voucherHash) external view returns (uint256) {
        return _voucherTokenIds[voucherHash];
    }

    /// @notice The EIP-712 digest of a voucher under this contract's domain ("VezaEditions", "1").
    function hashVoucher(Voucher calldata v) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    VOUCHER_TYPEHASH,
                    v.creator,
                    v.payoutTo,
                    v.maxSupply,
                    v.mintStart,
                    v.mintEnd,
                    v.price,
                    v.royaltyBps,
                    keccak256(bytes(v.uri)),
                    v.nonce,
                    v.deadline
                )
            )
        );
    }

    /// @notice An edition's terms and how many copies were minted.
    function edition(uint256 tokenId) external view returns (Edition memory) {
        StoredEdition storage e = _existing(tokenId);
        return Edition({
            creator: e.creator,
            payoutTo: e.payoutTo,
            maxSupply: e.maxSupply,
            minted: e.minted,
            mintStart: e.mintStart,
            mintEnd: e.mintEnd,
            price: e.price,
            royaltyBps: e.royaltyBps,
            uri: e.uri
        });
    }

    /// @notice ERC-2981: the edition's `payoutTo` receives `royaltyBps` of `salePrice` (rounded down);
    /// nothing for an unknown token.
    function royaltyInfo(uint256 tokenId, uint256 salePrice) public view override returns (address, uint256) {
        StoredEdition storage e = _editions[tokenId];
        if (e.creator == address(0)) return (address(0), 0);
        return (e.payoutTo, (salePrice * e.royaltyBps) / _feeDenominator());
    }

    /// @notice The number of editions created (the last token id).
    function editionCount() external view returns (uint256) {
        return _lastTokenId;
    }

    /// @inheritdoc ICreatorOf
    function creatorOf(uint256 tokenId) external view returns (address) {
        return _existing(tokenId).creator;
    }

    /// @notice The edition's metadata uri (`ipfs://<cid>`).
    function uri(uint256 tokenId) public view override returns (string memory) {
        return _existing(tokenId).uri;
    }

    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC1155, ERC2981, AccessControl)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }

    function _createEdition(Edition memory e) private returns (uint256 tokenId) {
        if (e.creator == address(0) || e.payoutTo == address(0)) revert ZeroAddress();
        if (e.royaltyBps > MAX_ROYALTY_BPS) revert RoyaltyTooHigh(e.royaltyBps);
        if (e.mintEnd != 0 && e.mintEnd <= e.mintStart) revert InvalidWindow(e.mintStart, e.mintEnd);
        tokenId = ++_lastTokenId;
        _editions[tokenId] = StoredEdition({
            creator: e.creator,
            royaltyBps: e.royaltyBps,
            payoutTo: e.payoutTo,
            maxSupply: e.maxSupply,
            minted: 0,
            mintStart: e.mintStart,
            mintEnd: e.mintEnd,
            price: e.price,
            uri: e.uri
        });
        emit EditionCreated(
            tokenId, e.creator, e.payoutTo, e.maxSupply, e.mintStart, e.mintEnd, e.price, e.royaltyBps, e.uri
        );
    }

    function _mintPaid(address to, uint256 tokenId, uint256 amount) private {
        StoredEdition storage e = _existing(tokenId);
        if (block.timestamp < e.mintStart) revert MintNotStarted(tokenId, e.mintStart);
        if (e.mintEnd != 0 && block.timestamp > e.mintEnd) revert MintEnded(tokenId, e.mintEnd);
        _take(e, tokenId, amount);
        uint256 expected = e.price * amount;
        if (msg.value != expected) revert WrongPayment(expected, msg.value);
        address payoutTo = e.payoutTo;
        _mint(to, tokenId, amount, "");
        emit EditionMinted(tokenId, to, amount, expected);
        if (expected > 0) {
            (bool ok,) = payable(payoutTo).call{value: expected}("");
            if (!ok) revert TransferFailed();
        }
    }

    /// @dev Counts `amount` copies against the supply cap; an open edition is capped by its 64-bit counter.
    function _take(StoredEdition storage e, uint256 tokenId, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        uint256 minted = e.minted;
        uint256 cap = e.maxSupply == 0 ? type(uint64).max : e.maxSupply;
        if (amount > cap - minted) revert SoldOut(tokenId, cap - minted);
        e.minted = uint64(minted + amount);
    }

    function _existing(uint256 tokenId) private view returns (StoredEdition storage e) {
        e = _editions[tokenId];
        if (e.creator == address(0)) revert UnknownToken(tokenId);
    }
}
