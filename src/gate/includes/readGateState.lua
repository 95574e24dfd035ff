--[[
  The state one gate decision reads (checkGate-5.lua and checkAndReserve-6.lua include it): the
  facts decide() judges (src/domain/decide.ts) and the recipient's and portfolio's counts of the
  last 24 h, each computed without this message's own slots (a re-check does not deny itself).

  Reads KEYS[1] G, KEYS[2] C, KEYS[3] W, KEYS[4] Z, KEYS[5] TU (layout in checkAndReserve-6.lua).
  Input:
    now            epoch ms (the caller's clock)
    id             message_id
    limitArg       portfolio limit; "" = unlimited
    senderField    G field of the sender status ("s:<sender>"; "r:<sender>" holds its Meta restrictions)
    templateField  G field of the template ("" = none)
    tierPrefix     Z member prefix of this portfolio's tier slots ("t:<business>:"); G field
                   "pl:<business>" holds the limit Meta reported ("<n, -1 unlimited>|<at>"), which
                   replaces limitArg (the configured one)
    day            24 h in ms
  Output:
    nil when the L marker is absent (the state is empty or half-loaded), else
    out: the scripts' reply { sender_json|false, template|false, customer_flat, li|false, ra|false,
         fep|false, m_count, m_oldest|false, t_used, t_counted 0/1, t_oldest|false, 0, false,
         restrictions_json|false, portfolio_limit|false } (the restrictions are judged by decide(), not here)
    state: what the reservation step reuses (sjson, tpl, cust, win, mCount, mineCounted, tUsed,
         limit, stale, mm, tm)
]]
local function readGateState(now, id, limitArg, senderField, templateField, tierPrefix, day)
  local cutoff = now - day

  local g = redis.call('HMGET', KEYS[1], 'L', senderField, templateField ~= '' and templateField or 'L', 'r' .. string.sub(senderField, 2), 'pl:' .. string.sub(tierPrefix, 3, -2))
  if not g[1] then return nil end
  local sjson = g[2]
  local tpl = templateField ~= '' and g[3] or false
  local cust = redis.call('HGETALL', KEYS[2])
  local win = redis.call('HMGET', KEYS[3], 'li', 'ra', 'fep')

  -- The recipient's slots of the last 24 h, not counting this message's own; also whether stale ones
  -- are left to prune (so the write prunes only when needed).
  local mm, tp = 'm:' .. id, tierPrefix
  local tm = tp .. id
  local mCount, mOldest, tN, selfT, stale = 0, false, 0, false, false
  local list = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
  for i = 1, #list, 2 do
    local at = tonumber(list[i + 1])
    local m = list[i]
    if at <= cutoff then stale = true
    elseif m == mm or m == tm then
      if m == tm then selfT = true end
    elseif string.byte(m, 1) == 109 then -- 'm'
      mCount = mCount + 1
      if not mOldest then mOldest = at end
    elseif string.sub(m, 1, #tp) == tp then
      tN = tN + 1
    end
  end

  -- Tier: unique recipients of the portfolio whose latest tier send is younger than 24 h. A recipient
  -- kept in that count only by this message's own slot (a re-check) is not counted against it.
  local after = '(' .. cutoff
  local limit = tonumber(limitArg)
  if g[5] then
    local reported = tonumber(string.match(g[5], '^(-?%d+)|'))
    if reported == -1 then limit = nil else limit = reported end
  end
  local tUsed = redis.call('ZCOUNT', KEYS[5], after, '+inf')
  local mineCounted = tN > 0
  if selfT and not mineCounted then tUsed = tUsed - 1 end
  local tOldest = false
  if limit and tUsed >= limit then
    local first = redis.call('ZRANGEBYSCORE', KEYS[5], after, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if first[2] then tOldest = tonumber(first[2]) end
  end

  local out = { sjson, tpl, cust, win[1], win[2], win[3], mCount, mOldest, tUsed, mineCounted and 1 or 0, tOldest, 0, false, g[4], g[5] }
  local state = { sjson = sjson, tpl = tpl, cust = cust, win = win, mCount = mCount, mineCounted = mineCounted, tUsed = tUsed, limit = limit, stale = stale, mm = mm, tm = tm }
  return out, state
end
