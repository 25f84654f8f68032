/**
 * Content-filter rejections (API-FACTS.md "Errors"), each in a real `vite build` against the emulator:
 * CONTENT_FILTERED naming the spec file, the stage and the categories; one request (never retried, not
 * even when the server says `x-should-retry: true`); nothing written to the cache.
 */
import { describe, expect, it } from 'vitest'
import { answers, type ScriptedAnswer } from './emulator/index.js'
import { withEnv } from './helpers/env.js'
import { spec } from './helpers/project.js'
import { emulatorSuite, failure } from './helpers/suite.js'
import { viteBuild } from './helpers/vite.js'

const suite = emulatorSuite()

interface Case {
  name: string
  provider: 'openai' | 'azure'
  fields: Record<string, unknown>
  answer: ScriptedAnswer
  stage: 'input' | 'output'
  categories: string[]
}

const withRetryHint = (answer: ScriptedAnswer): ScriptedAnswer => ({ ...answer, headers: { 'x-should-retry': 'true' } }) as ScriptedAnswer

const cases: Case[] = [
  {
    name: 'OpenAI moderation_blocked (output stage)',
    provider: 'openai',
    fields: { prompt: 'a battle scene', model: 'gpt-image-2', size: '1024x1024' },
    answer: withRetryHint(answers.moderationBlocked('output', ['violence', 'gore'])),
    stage: 'output',
    categories: ['violence', 'gore'],
  },
  {
    name: 'DALL-E content_policy_violation',
    provider: 'openai',
    fields: { prompt: 'a forbidden thing', model: 'dall-e-2', size: '256x256' },
    answer: answers.contentPolicyViolation(),
    stage: 'input',
    categories: [],
  },
  {
    name: 'Azure contentFilter / ResponsibleAIPolicyViolation (prompt)',
    provider: 'azure',
    fields: { prompt: 'a fight', model: 'gpt-image-2', size: '1024x1024' },
    answer: answers.azureContentFilter('input'),
    stage: 'input',
    categories: ['violence'],
  },
  {
    name: 'Azure contentFilter (generated image)',
    provider: 'azure',
    fields: { prompt: 'a fight', model: 'gpt-image-2', size: '1024x1024' },
    answer: answers.azureContentFilter('output'),
    stage: 'output',
    categories: ['violence'],
  },
]

describe('content filters', () => {
  it.each(cases)('$name fails the build with CONTENT_FILTERED, one request and no cache write', async (c) => {
    const project = await suite.project({
      'src/main.js': "import a from './nested/a.imgprompt.json'\nconsole.log(a)\n",
      'src/nested/a.imgprompt.json': spec(c.fields),
    })
    suite.emulator.enqueue(c.answer)
    const env = c.provider === 'azure' ? suite.azureEnv() : suite.openaiEnv()
    const error = await failure(withEnv(env, () => viteBuild(project.root)))

    expect(error.message).toContain('CONTENT_FILTERED')
    expect(error.message).toContain('src/nested/a.imgprompt.json')
    expect(error.message).toContain(`the ${c.stage} was rejected by the content filter`)
    if (c.categories.length) expect(error.message).toContain(`categories: ${c.categories.join(', ')}`)
    // What to change, not just what happened.
    expect(error.message).toMatch(c.stage === 'output' ? /reword the prompt|change "seed"/ : /reword the prompt or replace the flagged input/)
    expect(suite.emulator.requests).toHaveLength(1)
    expect(suite.emulator.requests[0]!.api).toBe(c.provider)
    expect(await project.list('.ai-image')).toEqual([])
  })
})
