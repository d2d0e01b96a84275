/// The banks' limits on reading an account without its holder present, as BankSync asks for and counts them.
public enum ReadBudget {
    /// Reads of an account's transactions a day that a Berlin Group consent made by `banksync link` allows
    /// (its `frequencyPerDay`).
    public static let berlinGroupReadsPerDay = 4
}
