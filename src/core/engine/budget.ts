/**
 * `budget.maxImages` / `budget.maxUSD`: checked right before every paid call (first tries and retries
 * alike), so a build stops BEFORE the call that would pass a limit, never after. A call reserves its images
 * and an estimate that errs high; as its answer arrives, the actual cost from the answer's `usage` replaces
 * the estimate (so the budget counts what was spent). A success, or a failure the server may have billed
 * (timeout, dropped answer), keeps the reservation; any other failure gives it back. Once a call is refused,
 * the build stops paying: every later miss is refused too, and all of them are listed.
 */
import { AiImageError } from '../errors.js'
import { formatUSD } from './cost.js'

export interface PaidCall {
  /** Spec label (file or virtual id). */
  label: string
  /** Images the call asks for. */
  images: number
  /** Estimated USD of the call, erring high; undefined when the model has no price. */
  usd: number | undefined
}

export interface BudgetLimits {
  maxImages?: number
  maxUSD?: number
}

export interface BudgetTicket {
  /** The call was (or may have been) billed: `actualUSD` (from the answer's usage) replaces the estimate when known. */
  spend(actualUSD?: number): void
  /** The call certainly cost nothing. */
  release(): void
}

export class Budget {
  /** Images and USD of calls that were billed or may have been (their actual cost where known), plus those in flight. */
  private images = 0
  private usd = 0
  private stopReason: string | undefined
  /** Calls reserved and not settled yet: one settles when its answer (or failure) is in. */
  private readonly unsettled = new Set<Promise<void>>()
  /** Specs refused by the budget in this build, in order. */
  readonly refused: string[] = []

  constructor(private readonly limits: BudgetLimits) {}

  /** A new build starts with nothing spent. */
  reset(): void {
    this.images = 0
    this.usd = 0
    this.stopReason = undefined
    this.refused.length = 0
  }

  get limited(): boolean {
    return this.limits.maxImages !== undefined || this.limits.maxUSD !== undefined
  }

  /**
   * Reserve a call's share once the calls in flight that stand in its way have settled (their actual cost,
   * usually below their estimate, replaces it), or throw BUDGET_EXCEEDED without sending it. Waiting is safe:
   * a call in flight settles without this one (its slot is already given back, or it holds its own), and
   * within the provider's timeout.
   */
  async reserveSettled(call: PaidCall): Promise<BudgetTicket> {
    while (this.stopReason === undefined && this.unsettled.size > 0 && this.check(call) !== undefined) {
      await Promise.race(this.unsettled)
    }
    return this.reserve(call)
  }

  /** Reserve a call's share, or throw BUDGET_EXCEEDED without sending it. */
  reserve(call: PaidCall): BudgetTicket {
    const problem = this.stopReason ?? this.check(call)
    if (problem) {
      this.stopReason ??= problem
      if (!this.refused.includes(call.label)) this.refused.push(call.label)
      throw new AiImageError('BUDGET_EXCEEDED', `not generated: ${problem}. Raise \`budget\` or generate it separately`, {
        file: call.label,
        data: { limits: { ...this.limits }, spentImages: this.images, spentUSD: this.usd },
      })
    }
    this.images += call.images
    this.usd += call.usd ?? 0
    let settled = false
    let settle!: () => void
    const done = new Promise<void>((resolve) => (settle = resolve))
    this.unsettled.add(done)
    const close = () => {
      settled = true
      this.unsettled.delete(done)
      settle()
    }
    return {
      spend: (actualUSD) => {
        if (settled) return
        if (actualUSD !== undefined && Number.isFinite(actualUSD) && actualUSD >= 0) this.usd += actualUSD - (call.usd ?? 0)
        close()
      },
      release: () => {
        if (settled) return
        this.images -= call.images
        this.usd -= call.usd ?? 0
        close()
      },
    }
  }

  /** Why `call` would be refused now, without reserving anything (the gallery asks before it writes a spec). */
  refusal(call: PaidCall): string | undefined {
    return this.stopReason ?? this.check(call)
  }

  /** One error for the end of a build, listing every spec the budget kept from being generated. */
  buildError(): AiImageError | undefined {
    if (this.refused.length === 0) return undefined
    return new AiImageError(
      'BUDGET_EXCEEDED',
      `${this.stopReason}. ${this.refused.length} spec${this.refused.length > 1 ? 's were' : ' was'} not generated:\n` +
        this.refused.map((label) => `  - ${label}`).join('\n') +
        '\nImages generated before the limit are cached. Raise `budget` (or generate the rest with `npx ai-image generate`) and build again.',
      { data: { notGenerated: [...this.refused], limits: { ...this.limits } } },
    )
  }

  private check(call: PaidCall): string | undefined {
    const { maxImages, maxUSD } = this.limits
    if (maxImages !== undefined && this.images + call.images > maxImages) {
      return `${call.images} more image${call.images > 1 ? 's' : ''} would pass budget.maxImages = ${maxImages} (${this.images} already paid for in this build)`
    }
    if (maxUSD !== undefined) {
      if (call.usd === undefined) return 'its cost cannot be estimated (no price for its model) while budget.maxUSD is set; add the model to the `prices` option'
      // A hair of tolerance so that sums of table prices meet a limit set to exactly their total.
      if (this.usd + call.usd > maxUSD + 1e-9) {
        return `an estimated ${formatUSD(call.usd)} more would pass budget.maxUSD = ${formatUSD(maxUSD)} (${formatUSD(this.usd)} already spent or reserved in this build)`
      }
    }
    return undefined
  }
}
