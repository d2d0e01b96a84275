/// The BIC of the bank that keeps an account, from its IBAN's national bank code, where a central bank publishes
/// the codes: Flowpay requires a BIC for every account, many banks omit `bic`, and Berlin Group has no fallback.
/// Czech and Slovak IBANs carry the 4-digit bank code in positions 5–8 (`CZkk BBBB …`, `SKkk BBBB …`).
///
/// Sources (refresh them when a bank appears, merges or leaves; a code missing here only makes its accounts an
/// interruption, never a wrong BIC):
/// - **SK**: Národná banka Slovenska, *Prevodník identifikačných kódov pre tuzemský platobný styk pre Slovenskú
///   republiku* (nbs.sk → Platby → Číselníky a registre), version 201, valid from 1 June 2020. Codes without a
///   SWIFT code there (8191, 8400) are left out. 8370 and 8420 are past the part of that list read when this table
///   was made; they are taken from the lists banks publish from it (same codes, same BICs).
/// - **CZ**: the Czech National Bank's *Číselník kódů platebního styku* (cnb.cz → Platební styk → Účty, kódy
///   bank, CSV `kody_bank_CR.csv`) could not be fetched when this table was made (2026-12-07). The table holds
///   well-known codes and BICs of that list as banks and finance sites reproduce it (mBank's list of codes,
///   finance.cz 2019, Oberbank's own page for 8040); codes whose BIC those copies do not give are left out.
///   Check it against the CNB's CSV before adding to it.
public enum BankCodeDirectory {
    /// BIC8 by country and national bank code.
    static let codes: [String: [String: String]] = [
        "CZ": [
            "0100": "KOMBCZPP",   // Komerční banka
            "0300": "CEKOCZPP",   // Československá obchodní banka (also Poštovní spořitelna)
            "0600": "AGBACZPP",   // MONETA Money Bank
            "0710": "CNBACZPP",   // Česká národní banka
            "0800": "GIBACZPX",   // Česká spořitelna
            "2010": "FIOBCZPP",   // Fio banka
            "2070": "MPUBCZPP",   // TRINITY BANK
            "2250": "CTASCZ22",   // Banka CREDITAS
            "2600": "CITICZPX",   // Citibank Europe, organizační složka
            "2700": "BACXCZPP",   // UniCredit Bank Czech Republic and Slovakia
            "3030": "AIRACZPP",   // Air Bank
            "3050": "BPPFCZP1",   // BNP Paribas Personal Finance (Hello bank)
            "3500": "INGBCZPP",   // ING Bank
            "4000": "EXPNCZPP",   // Max banka (formerly Expobank CZ)
            "4300": "CMZRCZP1",   // Národní rozvojová banka
            "5500": "RZBCCZPP",   // Raiffeisenbank
            "5800": "JTBPCZPP",   // J&T BANKA
            "6000": "PMBPCZPP",   // PPF banka
            "6100": "EQBKCZPP",   // Raiffeisenbank (formerly Equa bank)
            "6210": "BREXCZPP",   // mBank, organizační složka
            "6300": "GEBACZPP",   // BNP Paribas, pobočka Česká republika
            "6700": "SUBACZPP",   // Všeobecná úverová banka, pobočka Praha
            "8040": "OBKLCZ2X",   // Oberbank AG, pobočka Česká republika
            "8090": "CZEECZPP",   // Česká exportní banka
            "8211": "SAXPCZP1",   // Saxo Bank
        ],
        "SK": [
            "0200": "SUBASKBX",   // Všeobecná úverová banka
            "0720": "NBSBSKBX",   // Národná banka Slovenska
            "0900": "GIBASKBX",   // Slovenská sporiteľňa
            "1100": "TATRSKBX",   // Tatra banka
            "1111": "UNCRSKBX",   // UniCredit Bank Czech Republic and Slovakia, pobočka zahraničnej banky
            "3000": "SLZBSKBA",   // Slovenská záručná a rozvojová banka
            "3100": "LUBASKBX",   // Prima banka Slovensko (formerly Sberbank Slovensko), run-off code
            "5200": "OTPVSKBX",   // OTP Banka Slovensko
            "5600": "KOMASK2X",   // Prima banka Slovensko
            "5900": "PRVASKBA",   // Prvá stavebná sporiteľňa
            "6500": "POBNSKBA",   // Poštová banka
            "7300": "INGBSKBX",   // ING Bank N.V., pobočka zahraničnej banky
            "7500": "CEKOSKBX",   // Československá obchodná banka
            "7930": "WUSTSKBA",   // Wüstenrot stavebná sporiteľňa
            "8050": "COBASKBX",   // Commerzbank, pobočka zahraničnej banky
            "8100": "KOMBSKBA",   // Komerční banka, pobočka zahraničnej banky
            "8120": "BSLOSK22",   // Privatbanka
            "8130": "CITISKBA",   // Citibank Europe, pobočka zahraničnej banky
            "8160": "EXSKSKBX",   // EXIMBANKA SR
            "8170": "KBSPSKBX",   // ČSOB stavebná sporiteľňa
            "8180": "SPSRSKBA",   // Štátna pokladnica
            "8320": "JTBPSKBA",   // J&T BANKA, pobočka zahraničnej banky
            "8330": "FIOZSKBA",   // Fio banka, pobočka zahraničnej banky
            "8360": "BREXSKBX",   // mBank, pobočka zahraničnej banky
            "8370": "OBKLSKBA",   // Oberbank AG, pobočka zahraničnej banky
            "8420": "BFKKSKBB",   // BKS Bank AG, pobočka zahraničnej banky
        ],
    ]

    /// The BIC8 of the bank keeping `iban` (normalised: upper case, no spaces), or nil where the country has no
    /// table here or the bank code is not in it.
    public static func bic(forIBAN iban: String?) -> String? {
        guard let iban, iban.count == 24 else { return nil }   // CZ and SK IBANs are 24 characters
        let country = String(iban.prefix(2))
        let bankCode = String(iban.dropFirst(4).prefix(4))
        return codes[country]?[bankCode]
    }
}
